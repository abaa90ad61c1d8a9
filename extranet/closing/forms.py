from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length


class ConfirmForm(FlaskForm):
    """A button that changes state (validate, close): only its CSRF token."""


class ReopenForm(FlaskForm):
    motive = TextAreaField(
        "Motif de la réouverture",
        validators=[
            InputRequired("Le motif de réouverture est obligatoire."),
            Length(min=5, max=2000, message="Le motif fait de 5 à 2000 caractères."),
        ],
    )
