from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from extranet.passwords import MAX_PASSWORD_LENGTH


class PasswordChangeForm(FlaskForm):
    current = PasswordField(
        "Mot de passe actuel",
        validators=[DataRequired("Indiquez votre mot de passe actuel."), Length(max=200)],
    )
    new = PasswordField(
        "Nouveau mot de passe",
        validators=[
            DataRequired("Choisissez un nouveau mot de passe."),
            Length(max=MAX_PASSWORD_LENGTH),
        ],
    )
    confirm = PasswordField(
        "Confirmez le nouveau mot de passe",
        validators=[EqualTo("new", "Les deux saisies diffèrent.")],
    )
