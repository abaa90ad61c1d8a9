"""Form fields shared by several modules."""

from __future__ import annotations

from typing import Any

from wtforms import DateTimeLocalField, SelectField
from wtforms.validators import InputRequired

from ledger.motives import Motive

MOTIVE_CHOICES = [("", "— Choisir un motif —")] + [(m.value, m.label) for m in Motive]


def motive_field(label: str = "Motif") -> Any:
    return SelectField(
        label,
        choices=MOTIVE_CHOICES,
        validators=[InputRequired("Le motif est obligatoire.")],
    )


def paris_datetime_field(label: str, required: bool = True) -> Any:
    validators = [InputRequired("Indiquez la date et l'heure.")] if required else []
    return DateTimeLocalField(label, format="%Y-%m-%dT%H:%M", validators=validators)


def motive_of(value: str | None) -> Motive | None:
    try:
        return Motive(value) if value else None
    except ValueError:
        return None
