"""The funder identity form (checked again, and stored, by ``ledger.funders.set_identity``)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from ledger.funders import EDESS_AID_TYPES


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
