"""Administration forms: accounts, lockouts, and the funder identity (checked again by
``ledger.funders.set_identity``)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from extranet.models import Role, ThrottleScope
from ledger.funders import EDESS_AID_TYPES

ROLE_CHOICES = [(r.value, r.label) for r in Role]


class AccountForm(FlaskForm):
    """Name, role and antenna of an account (and its login, at creation)."""

    login = StringField(
        "Identifiant",
        validators=[DataRequired("Indiquez l'identifiant."), Length(max=80)],
    )
    name = StringField(
        "Nom affiché",
        validators=[DataRequired("Indiquez le nom de la personne."), Length(max=120)],
    )
    role = SelectField(
        "Rôle", choices=ROLE_CHOICES, validators=[InputRequired("Choisissez le rôle.")]
    )
    antenna = SelectField("Antenne (responsables d'antenne)", coerce=int, choices=[])


class ActForm(FlaskForm):
    """A button posting an act (deactivate, reactivate, reset): only the token."""


class UnlockForm(FlaskForm):
    scope = HiddenField(validators=[InputRequired()])
    key = HiddenField(validators=[InputRequired(), Length(max=120)])

    def scope_value(self) -> ThrottleScope | None:
        try:
            return ThrottleScope(self.scope.data or "")
        except ValueError:
            return None


class FunderIdentityForm(FlaskForm):
    platform_id = StringField(
        "Identifiant attribué par la plateforme du Département",
        validators=[Optional(), Length(max=60)],
    )
    departement_code = StringField("Code du Département", validators=[Optional(), Length(max=3)])
    aid_type = SelectField(
        "Type d'aide (liste EDESS)",
        choices=[("", "— Selon le type de financeur —")]
        + [(code, f"{code} — {label}") for code, label in EDESS_AID_TYPES.items()],
        validators=[Optional()],
    )
    service_codes = TextAreaField(
        "Codes de prestation du financeur",
        validators=[Optional(), Length(max=2000)],
    )


class ApiTokenForm(FlaskForm):
    """A client system's token on the REST API (``extranet.api.tokens`` checks it again)."""

    name = StringField(
        "Système client",
        validators=[DataRequired("Indiquez le nom du système client."), Length(max=60)],
    )
    write = BooleanField("Peut corriger et saisir des interventions (droit « write »)")
    antenna = SelectField("Antenne", coerce=int, choices=[])
