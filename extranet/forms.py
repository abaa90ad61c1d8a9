"""Form fields shared by several modules."""

from __future__ import annotations

from typing import Any

from wtforms import DateTimeLocalField, SelectField
from wtforms.validators import InputRequired, ValidationError

from extranet.params import MAX_DATE, MIN_DATE
from ledger.motives import Motive

MOTIVE_CHOICES = [("", "— Choisir un motif —")] + [(m.value, m.label) for m in Motive]


def motive_field(label: str = "Motif") -> Any:
    return SelectField(
        label,
        choices=MOTIVE_CHOICES,
        validators=[InputRequired("Le motif est obligatoire.")],
    )


def plausible_date(_form: Any, field: Any) -> None:
    """A year the service can hold: 0001-01-01 in Paris has no UTC instant."""
    if field.data is not None and not MIN_DATE.year <= field.data.year <= MAX_DATE.year:
        raise ValidationError(
            f"L'année doit être comprise entre {MIN_DATE.year} et {MAX_DATE.year}."
        )


def paris_datetime_field(label: str, required: bool = True) -> Any:
    validators: list[Any] = [InputRequired("Indiquez la date et l'heure.")] if required else []
    validators.append(plausible_date)
    return DateTimeLocalField(label, format="%Y-%m-%dT%H:%M", validators=validators)


def motive_of(value: str | None) -> Motive | None:
    try:
        return Motive(value) if value else None
    except ValueError:
        return None
