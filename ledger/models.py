"""The ledger's tables, as typed SQLAlchemy 2 models.

Every other package's models derive from ``Base`` so that one metadata (and
one Alembic history per package, see ``config/migrations``) covers the schema.
All datetimes are stored in UTC.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.timeutil import utc_now

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


class Civility(enum.StrEnum):
    MR = "M"
    MRS = "MME"


class Antenna(Base):
    __tablename__ = "antennas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(250), default="")
    #: Arrondissements or communes covered, e.g. "75011,75012".
    areas: Mapped[str] = mapped_column(String(250), default="")


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(40), unique=True)
    civility: Mapped[Civility] = mapped_column(_enum(Civility, "civility"))
    last_name: Mapped[str] = mapped_column(String(80))
    first_name: Mapped[str] = mapped_column(String(80))
    antenna_id: Mapped[int] = mapped_column(
        ForeignKey("antennas.id", ondelete="RESTRICT"), index=True
    )
    #: The digits the worker keys on the phone; unique among all workers.
    phone_code: Mapped[str] = mapped_column(String(8), unique=True)
    active_from: Mapped[date] = mapped_column(Date)
    active_until: Mapped[date | None] = mapped_column(Date)
    #: The language the IVR speaks to the worker once the code is recognised
    #: (ISO 639-1: fr, pt, ar, es, en; ivr.prompts.LANGUAGES).
    language: Mapped[str] = mapped_column(String(5), default="fr", server_default="fr")

    antenna: Mapped[Antenna] = relationship()

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Beneficiary(Base):
    __tablename__ = "beneficiaries"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(40), unique=True)
    civility: Mapped[Civility] = mapped_column(_enum(Civility, "civility"))
    last_name: Mapped[str] = mapped_column(String(80))
    first_name: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(250))
    postcode: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(80), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    #: Autonomy group (1 most dependent to 6), None when not assessed.
    gir: Mapped[int | None] = mapped_column(Integer)
    antenna_id: Mapped[int] = mapped_column(
        ForeignKey("antennas.id", ondelete="RESTRICT"), index=True
    )
    care_start: Mapped[date] = mapped_column(Date)
    care_end: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    antenna: Mapped[Antenna] = relationship()
    phones: Mapped[list[Phone]] = relationship(back_populates="beneficiary")
    care_plans: Mapped[list[CarePlan]] = relationship(back_populates="beneficiary")

    __table_args__ = (CheckConstraint("gir IS NULL OR gir BETWEEN 1 AND 6", name="gir_range"),)

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Phone(Base):
    __tablename__ = "phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(
        ForeignKey("beneficiaries.id", ondelete="CASCADE"), index=True
    )
    #: E.164, e.g. +33145678901.
    e164: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # landline | mobile
    active_from: Mapped[date] = mapped_column(Date)
    active_until: Mapped[date | None] = mapped_column(Date)

    beneficiary: Mapped[Beneficiary] = relationship(back_populates="phones")


class AbsenceKind(enum.StrEnum):
    HOLIDAY = "holiday"
    HOSPITAL = "hospital"
    OTHER_TEMPORARY = "other_temporary"
    MOVED = "moved"
    NURSING_HOME = "nursing_home"
    DEATH = "death"

    @property
    def definitive(self) -> bool:
        return self in {AbsenceKind.MOVED, AbsenceKind.NURSING_HOME, AbsenceKind.DEATH}


class Absence(Base):
    __tablename__ = "absences"

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(
        ForeignKey("beneficiaries.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[AbsenceKind] = mapped_column(_enum(AbsenceKind, "absence_kind"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    #: The planning software's identifier (absences file); None for one entered here.
    external_id: Mapped[str | None] = mapped_column(String(40), unique=True)

    beneficiary: Mapped[Beneficiary] = relationship()

    @property
    def label(self) -> str:
        return ABSENCE_LABELS[self.kind]

    def covers(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


ABSENCE_LABELS = {
    AbsenceKind.HOLIDAY: "Vacances",
    AbsenceKind.HOSPITAL: "Hospitalisation",
    AbsenceKind.OTHER_TEMPORARY: "Absence temporaire",
    AbsenceKind.MOVED: "Déménagement",
    AbsenceKind.NURSING_HOME: "Entrée en établissement",
    AbsenceKind.DEATH: "Décès",
}


class FunderKind(enum.StrEnum):
    APA = "APA"  # Département, elderly
    ASL_ELDERLY = "ASL_PA"  # Département social aid, elderly
    ASL_DISABLED = "ASL_PH"  # Département social aid, disabled
    PCH = "PCH"  # Département, disability compensation
    PENSION_FUND = "CAISSE"
    MUTUAL = "MUTUELLE"
    CPAM = "CPAM"
    STATE = "ETAT"
    PRIVATE = "PRIVE"  # full own tariff

    @property
    def is_departement(self) -> bool:
        return self in DEPARTEMENT_FUNDERS


DEPARTEMENT_FUNDERS = frozenset(
    {FunderKind.APA, FunderKind.ASL_ELDERLY, FunderKind.ASL_DISABLED, FunderKind.PCH}
)


class Funder(Base):
    __tablename__ = "funders"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[FunderKind] = mapped_column(_enum(FunderKind, "funder_kind"))
    #: The identifier the Département's teletransmission platform gave this funder
    #: (ESPPADOM IssuerCITradeParty/ID); empty until known, and then nothing is
    #: declared to it (ledger.funders, ledger.declarations).
    platform_id: Mapped[str] = mapped_column(String(60), default="", server_default="")
    #: INSEE code of the funder's Département ("75", "2A", "971"); empty for other funders.
    departement_code: Mapped[str] = mapped_column(String(3), default="", server_default="")
    #: Aid type from the EDESS list ESPPADOM_TYPE_AIDE (APA, PCH, AM); empty means the
    #: default of the funder's kind (ledger.funders.DEFAULT_AID_TYPES).
    aid_type: Mapped[str] = mapped_column(String(10), default="", server_default="")
    #: Our service codes mapped to the funder's local service codes, declared under
    #: the funder's own list: {"APA-AIDE": "AD01"}.
    service_codes: Mapped[dict[str, str]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )


class CarePlan(Base):
    __tablename__ = "care_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(
        ForeignKey("beneficiaries.id", ondelete="CASCADE"), index=True
    )
    funder_id: Mapped[int] = mapped_column(
        ForeignKey("funders.id", ondelete="RESTRICT"), index=True
    )
    service_code: Mapped[str] = mapped_column(String(20))
    #: Funder's reference of the plan (ESPPADOM ORDER reference).
    reference: Mapped[str] = mapped_column(String(60), default="")
    #: Maximum hours per month.
    max_hours: Mapped[float] = mapped_column(Numeric(7, 2, asdecimal=False))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)

    beneficiary: Mapped[Beneficiary] = relationship(back_populates="care_plans")
    funder: Mapped[Funder] = relationship()

    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates_ordered"),
    )


class Identification(enum.StrEnum):
    OK = "ok"
    UNKNOWN_NUMBER = "unknown_number"
    WITHHELD_NUMBER = "withheld_number"
    UNKNOWN_WORKER = "unknown_worker"
    NO_CODE = "no_code"


class CallOutcome(enum.StrEnum):
    RECORDED = "recorded"
    HANGUP_BEFORE_CODE = "hangup_before_code"
    HANGUP_DURING_CODE = "hangup_during_code"
    HANGUP_BEFORE_DIRECTION = "hangup_before_direction"
    TOO_MANY_ATTEMPTS = "too_many_attempts"


class CallSource(enum.StrEnum):
    ARI = "ari"
    ARI_SPOOL = "ari_spool"
    DIALPLAN_SPOOL = "dialplan_spool"


class CallEvent(Base):
    """An immutable raw fact from the IVR. Never updated, never deleted."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Asterisk channel unique id: the idempotency key of spool replays.
    channel_id: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime]
    #: When the last digit of the worker code was keyed.
    code_completed_at: Mapped[datetime | None]
    caller_raw: Mapped[str | None] = mapped_column(String(40))
    caller_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    ani_raw: Mapped[str | None] = mapped_column(String(40))
    called_number: Mapped[str | None] = mapped_column(String(40))
    digits: Mapped[str | None] = mapped_column(String(32))
    #: When the calling number belongs to several beneficiaries and nothing
    #: decided between them: their ids ("12,34"), for the manager who attaches it.
    candidate_ids: Mapped[str | None] = mapped_column(String(200))
    beneficiary_id: Mapped[int | None] = mapped_column(
        ForeignKey("beneficiaries.id", ondelete="RESTRICT"), index=True
    )
    worker_id: Mapped[int | None] = mapped_column(
        ForeignKey("workers.id", ondelete="RESTRICT"), index=True
    )
    #: Scoping key: the beneficiary's antenna, else the worker's, else None (central only).
    antenna_id: Mapped[int | None] = mapped_column(
        ForeignKey("antennas.id", ondelete="RESTRICT"), index=True
    )
    identification: Mapped[Identification] = mapped_column(_enum(Identification, "identification"))
    direction: Mapped[Direction | None] = mapped_column(_enum(Direction, "direction"))
    outcome: Mapped[CallOutcome] = mapped_column(_enum(CallOutcome, "call_outcome"))
    source: Mapped[CallSource] = mapped_column(_enum(CallSource, "call_source"))
    recorded_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        # The calls no visit could take (unknown number or worker code): the
        # incomplete-calls page, the alerts and the statistics read those received
        # in a period; they are a small part of all calls, and a range of
        # ``received_at`` over all calls was most of those pages' time.
        Index(
            "ix_call_events_unplaced",
            "received_at",
            "id",
            postgresql_where=text("beneficiary_id IS NULL OR worker_id IS NULL"),
            sqlite_where=text("beneficiary_id IS NULL OR worker_id IS NULL"),
        ),
    )


class VisitStatus(enum.StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    MANUAL = "manual"
    CORRECTED = "corrected"
    DELETED = "deleted"

    @property
    def label(self) -> str:
        return {
            VisitStatus.COMPLETE: "Complète",
            VisitStatus.INCOMPLETE: "Incomplète",
            VisitStatus.MANUAL: "Saisie manuelle",
            VisitStatus.CORRECTED: "Corrigée",
            VisitStatus.DELETED: "Supprimée",
        }[self]


class Visit(Base):
    """A visit; its columns mirror its latest version for fast queries."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="RESTRICT"))
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id", ondelete="RESTRICT"))
    antenna_id: Mapped[int] = mapped_column(ForeignKey("antennas.id", ondelete="RESTRICT"))
    arrival_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_events.id", ondelete="RESTRICT"), unique=True
    )
    departure_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_events.id", ondelete="RESTRICT"), unique=True
    )
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    #: Europe/Paris calendar day of the visit (of its start, else its end).
    service_date: Mapped[date] = mapped_column(Date)
    status: Mapped[VisitStatus] = mapped_column(_enum(VisitStatus, "visit_status"))
    service_code: Mapped[str | None] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)

    worker: Mapped[Worker] = relationship()
    beneficiary: Mapped[Beneficiary] = relationship()
    versions: Mapped[list[VisitVersion]] = relationship(
        back_populates="visit", order_by="VisitVersion.version"
    )

    __table_args__ = (
        Index("ix_visits_antenna_date", "antenna_id", "service_date"),
        # Central referents' pages and statistics span every antenna.
        Index("ix_visits_service_date", "service_date"),
        Index("ix_visits_beneficiary_date", "beneficiary_id", "service_date"),
        Index("ix_visits_worker_date", "worker_id", "service_date"),
        Index("ix_visits_status_date", "status", "service_date"),
    )


class VisitVersion(Base):
    """Append-only history of a visit: version 1 is how it was first derived."""

    __tablename__ = "visit_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Not indexed on its own: the unique key (visit_id, version) leads with it.
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    status: Mapped[VisitStatus] = mapped_column(_enum(VisitStatus, "visit_status"))
    #: None for versions written by the system from calls.
    motive: Mapped[Motive | None] = mapped_column(_enum(Motive, "motive"))
    comment: Mapped[str] = mapped_column(Text, default="")
    #: A user login, or "system:ivr" / "system:flows".
    author: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    #: Set on the version that moved the visit to another worker: who had it before.
    moved_from_worker_id: Mapped[int | None] = mapped_column(
        ForeignKey("workers.id", ondelete="RESTRICT")
    )
    #: Set on the version that moved the visit to another beneficiary: whose it was.
    moved_from_beneficiary_id: Mapped[int | None] = mapped_column(
        ForeignKey("beneficiaries.id", ondelete="RESTRICT")
    )

    visit: Mapped[Visit] = relationship(back_populates="versions")
    moved_from_worker: Mapped[Worker | None] = relationship(foreign_keys=[moved_from_worker_id])
    moved_from_beneficiary: Mapped[Beneficiary | None] = relationship(
        foreign_keys=[moved_from_beneficiary_id]
    )

    __table_args__ = (
        UniqueConstraint("visit_id", "version", name="uq_visit_versions_visit"),
        # The daily export reads the versions written since the previous file.
        Index("ix_visit_versions_created_at", "created_at"),
        # Moves are a few versions in thousands: only theirs are indexed, so that
        # the other versions (every visit's first) cost no index entry.
        *(
            Index(
                f"ix_visit_versions_{column}",
                column,
                postgresql_where=text(f"{column} IS NOT NULL"),
                sqlite_where=text(f"{column} IS NOT NULL"),
            )
            for column in ("moved_from_worker_id", "moved_from_beneficiary_id")
        ),
    )


class PlannedVisit(Base):
    __tablename__ = "planned_visits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="RESTRICT"))
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id", ondelete="RESTRICT"))
    antenna_id: Mapped[int] = mapped_column(ForeignKey("antennas.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    service_code: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        Index("ix_planned_visits_antenna_start", "antenna_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="dates_ordered"),
    )


class AuditEntry(Base):
    """Who did what and when, for every write (append-only)."""

    __tablename__ = "audit_journal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(String(80), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(40))
    antenna_id: Mapped[int | None] = mapped_column(
        ForeignKey("antennas.id", ondelete="RESTRICT"), index=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Setting(Base):
    """Key/value settings editable by administrators (kept small on purpose)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Declaration(Base):
    """What was last declared to a funder for a visit: one row per channel, visit, funder, month.

    Written by the channel that declares (``billing_export`` for the ESPPADOM
    DELIVERY files) in the transaction that journals the file carrying it,
    before the file leaves; ``ledger.declarations`` compares it with the month
    as it is now to find what changed since the last send. The files
    themselves, kept by the channel, are the history of every declaration.
    """

    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The exchange, e.g. "esppadom".
    channel: Mapped[str] = mapped_column(String(20))
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="RESTRICT"))
    funder_id: Mapped[int] = mapped_column(
        ForeignKey("funders.id", ondelete="RESTRICT"), index=True
    )
    #: First day of the month the visit was declared in.
    month: Mapped[date] = mapped_column(Date)
    #: The document's identifier, kept for ever (ESPPADOM CIDDHExchangedDocument/ID).
    document_id: Mapped[str] = mapped_column(String(60), unique=True)
    beneficiary_id: Mapped[int] = mapped_column(
        ForeignKey("beneficiaries.id", ondelete="RESTRICT"), index=True
    )
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="RESTRICT"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("care_plans.id", ondelete="SET NULL"))
    #: The Département's reference of the plan, as declared (OrderLineID).
    order_reference: Mapped[str] = mapped_column(String(60))
    service_code: Mapped[str] = mapped_column(String(20))
    #: The kept period and its minutes, as declared (UTC).
    kept_start: Mapped[datetime]
    kept_end: Mapped[datetime]
    minutes: Mapped[int] = mapped_column(Integer)
    clocked_start: Mapped[datetime | None]
    clocked_end: Mapped[datetime | None]
    #: The correction code declared: "" for none, "SUP" once the deletion was declared.
    adjustment: Mapped[str] = mapped_column(String(3))
    #: SHA-256 of what the declaration says (ledger.declarations.DeclarationLine.digest).
    content_sha256: Mapped[str] = mapped_column(String(64))
    #: Whether the last declaration was the deletion (SUP).
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How many times it was declared (1 the first time, + 1 per correction or deletion).
    revision: Mapped[int] = mapped_column(Integer, default=1)
    #: Name of the file that carried the last declaration.
    file_name: Mapped[str] = mapped_column(String(200))
    declared_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        UniqueConstraint(
            "channel", "visit_id", "funder_id", "month", name="uq_declarations_visit_funder"
        ),
        Index("ix_declarations_channel_month", "channel", "month"),
    )


class MonthClosure(Base):
    """A month's closing (``ledger.closing``): one row per month once anyone acts on it.

    Its transitions are in the audit journal (``month.closed``, ``month.reopened``,
    ``month.validated``); this row holds where the month is now.
    """

    __tablename__ = "month_closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How many times the month was closed: the revision of its current outputs.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(80))
    reopened_at: Mapped[datetime | None]
    reopened_by: Mapped[str | None] = mapped_column(String(80))
    reopen_motive: Mapped[str | None] = mapped_column(Text)
    #: The revision whose figures are kept in ``month_visit_figures`` (``ledger.figures``),
    #: and the rounding rules they were computed with; None when none are kept.
    figures_revision: Mapped[int | None] = mapped_column(Integer)
    figures_rules: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("year", "month", name="uq_month_closures_period"),
        CheckConstraint("month BETWEEN 1 AND 12", name="month_range"),
        CheckConstraint("revision >= 0", name="revision_positive"),
    )


class FunderValidation(Base):
    """A referent's validation of one funder's pro-forma, for the next close of a month."""

    __tablename__ = "month_funder_validations"

    id: Mapped[int] = mapped_column(primary_key=True)
    closure_id: Mapped[int] = mapped_column(
        ForeignKey("month_closures.id", ondelete="CASCADE"), index=True
    )
    #: The revision this validation prepares (the closure's revision + 1 when given).
    cycle: Mapped[int] = mapped_column(Integer)
    #: A funder code, or ``ledger.closing.OUTSIDE_PLAN`` for the lines outside any plan.
    funder_key: Mapped[str] = mapped_column(String(20))
    #: ``ledger.closing.funder_digests`` of the figures validated.
    digest: Mapped[str] = mapped_column(String(64))
    minutes: Mapped[int] = mapped_column(Integer)
    validated_by: Mapped[str] = mapped_column(String(80))
    validated_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        UniqueConstraint("closure_id", "cycle", "funder_key", name="uq_month_funder_validations"),
    )


class MonthVisitFigure(Base):
    """A closed month's figures, one row per share of each counted visit (``ledger.figures``).

    Written at the close from the allocation the close checked
    (``ledger.money.allocate_month``), dropped at the reopen: a closed month's
    figures cannot change without a reopen, so readers of many months (the
    statistics) read them here instead of allocating the month again. A visit
    whose kept minutes give no share has one row with share 0, no category and
    0 minutes.
    """

    __tablename__ = "month_visit_figures"

    #: year * 100 + month of the closed month.
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: The visit's rank in the month's allocation (its order: beneficiary, start, id).
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: The share's rank in the visit (0 for the first); ``kept_minutes`` is on every row.
    share: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    visit_id: Mapped[int] = mapped_column(BigInteger)
    antenna_id: Mapped[int] = mapped_column(Integer)
    beneficiary_id: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[int] = mapped_column(Integer)
    service_date: Mapped[date] = mapped_column(Date)
    #: The visit's kept minutes (the funder's rounding applied).
    kept_minutes: Mapped[int] = mapped_column(Integer)
    plan_id: Mapped[int | None] = mapped_column(Integer)
    #: "" outside any plan.
    funder_code: Mapped[str] = mapped_column(String(20), default="")
    funder_kind: Mapped[str] = mapped_column(String(32), default="")
    #: ``ledger.money.Category`` value; None for a visit without shares.
    category: Mapped[str | None] = mapped_column(String(10))
    minutes: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_month_visit_figures_period", "period", "antenna_id"),)


class MonthPairFigure(Base):
    """A closed month's counted visits summed per beneficiary × worker (``ledger.figures``).

    Written at the close from the month's ``month_visit_figures`` and dropped
    at the reopen with them: a year of all antennas is about 3.7 million
    visit rows but some hundred thousand of these, enough for the totals per
    antenna, beneficiary and worker, the distinct people served and the
    longest and shortest visit. One row per pair sums the visits' whole kept
    minutes (``funder_code`` ""); one more per funder of the pair's visits sums
    only that funder's shares, over the visits with a share of it (a state's
    funder filter).
    """

    __tablename__ = "month_pair_figures"

    #: year * 100 + month of the closed month.
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    antenna_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    beneficiary_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    worker_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: "" for the visits' whole kept minutes; a funder code for that funder's shares only.
    funder_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[int] = mapped_column(Integer)
    #: The longest visit's minutes, position in the month's allocation and id; of equals,
    #: the first in the allocation (the one a live computation picks).
    longest_minutes: Mapped[int] = mapped_column(Integer)
    longest_position: Mapped[int] = mapped_column(Integer)
    longest_visit_id: Mapped[int] = mapped_column(BigInteger)
    shortest_minutes: Mapped[int] = mapped_column(Integer)
    shortest_position: Mapped[int] = mapped_column(Integer)
    shortest_visit_id: Mapped[int] = mapped_column(BigInteger)


class MonthShareFigure(Base):
    """A closed month's shares summed per beneficiary, plan and category (``ledger.figures``).

    Written at the close from the month's ``month_visit_figures`` and dropped
    at the reopen with them: what the care plans, funders and beneficiaries'
    hours read for a year without the visit rows.
    """

    __tablename__ = "month_share_figures"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: year * 100 + month of the closed month.
    period: Mapped[int] = mapped_column(Integer)
    antenna_id: Mapped[int] = mapped_column(Integer)
    beneficiary_id: Mapped[int] = mapped_column(Integer)
    #: None outside any plan.
    plan_id: Mapped[int | None] = mapped_column(Integer)
    #: "" outside any plan.
    funder_code: Mapped[str] = mapped_column(String(20))
    funder_kind: Mapped[str] = mapped_column(String(32))
    #: ``ledger.money.Category`` value.
    category: Mapped[str] = mapped_column(String(10))
    shares: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_month_share_figures_period", "period", "antenna_id"),)


class MonthCallFigure(Base):
    """A closed month's incomplete calls, counted at the close (``ledger.call_figures``).

    The month's visits with a call missing, grouped by day, antenna, worker, kind
    and whether they were corrected: what the statistics of incomplete calls and
    of their correction count. Written at the close, dropped at the reopen (a
    closed month's visits and versions cannot change in between).
    """

    __tablename__ = "month_call_figures"

    #: year * 100 + month of the closed month.
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_date: Mapped[date] = mapped_column(Date, primary_key=True)
    antenna_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    worker_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: The missing call: "arrivee", "depart" or "aucun" (``call_figures.incomplete_kind``).
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    #: ``call_figures.corrected``: no longer incomplete, or a version with a motive.
    corrected: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    #: How many visits.
    visits: Mapped[int] = mapped_column(Integer)


class MonthVisitCount(Base):
    """A closed month's visits per antenna and how many of them have a call missing
    (``ledger.call_figures``): the statistics' rate of incomplete calls. Deleted visits
    are in neither. Written at the close, dropped at the reopen."""

    __tablename__ = "month_visit_counts"

    #: year * 100 + month of the closed month.
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    antenna_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    visits: Mapped[int] = mapped_column(Integer)
    #: Of ``visits``, those whose arrival or departure was not called in.
    missing_call: Mapped[int] = mapped_column(Integer)
