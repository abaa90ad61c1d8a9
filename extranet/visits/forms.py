from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from extranet.forms import motive_field, paris_datetime_field, plausible_date
from extranet.params import MAX_ID


class CorrectionForm(FlaskForm):
    started_at = paris_datetime_field("Arrivée (heure de Paris)", required=False)
    ended_at = paris_datetime_field("Départ (heure de Paris)", required=False)
    #: Moving the visit to another person of its antenna (choices set by the controller).
    worker_id = SelectField("Intervenant", coerce=int, validators=[Optional()])
    beneficiary_id = SelectField("Bénéficiaire", coerce=int, validators=[Optional()])
    motive = motive_field("Motif de la correction")
    comment = TextAreaField("Commentaire", validators=[Optional(), Length(max=2000)])
    delete = BooleanField("Supprimer cette intervention (annulée ou en double)")


class ManualVisitForm(FlaskForm):
    beneficiary_id = SelectField(
        "Bénéficiaire", coerce=int, validators=[InputRequired("Choisissez le bénéficiaire.")]
    )
    worker_id = SelectField(
        "Intervenant", coerce=int, validators=[InputRequired("Choisissez l'intervenant.")]
    )
    started_at = paris_datetime_field("Arrivée (heure de Paris)")
    ended_at = paris_datetime_field("Départ (heure de Paris)")
    motive = motive_field("Motif de la saisie manuelle")
    comment = TextAreaField("Commentaire", validators=[Optional(), Length(max=2000)])


class ExportForm(FlaskForm):
    """The period and antenna of a CSV export (posted: the export is audited)."""

    first = DateField("Du", validators=[InputRequired("Indiquez le premier jour."), plausible_date])
    last = DateField("Au", validators=[InputRequired("Indiquez le dernier jour."), plausible_date])
    antenna = IntegerField("Antenne", validators=[Optional(), NumberRange(0, MAX_ID)])
