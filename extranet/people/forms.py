from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import InputRequired

from ledger.languages import LANGUAGES


class LanguageForm(FlaskForm):
    language = SelectField(
        "Langue du serveur vocal",
        choices=list(LANGUAGES.items()),
        validators=[InputRequired("Choisissez une langue.")],
    )
