from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ledger.pairing import Direction

DIRECTION_CHOICES = [
    ("", "— Choisir —"),
    (Direction.ARRIVAL.value, "Arrivée"),
    (Direction.DEPARTURE.value, "Départ"),
]


class AttachForm(FlaskForm):
    beneficiary_id = SelectField(
        "Bénéficiaire", coerce=int, validators=[InputRequired("Choisissez le bénéficiaire.")]
    )
    worker_id = SelectField(
        "Intervenant", coerce=int, validators=[InputRequired("Choisissez l'intervenant.")]
    )
    direction = SelectField(
        "Sens de l'appel",
        choices=DIRECTION_CHOICES,
        validators=[InputRequired("Indiquez s'il s'agit d'une arrivée ou d'un départ.")],
    )
    add_phone = BooleanField("Ajouter ce numéro aux téléphones du bénéficiaire")
    comment = TextAreaField("Commentaire", validators=[Optional(), Length(max=2000)])
