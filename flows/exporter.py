"""The daily timestamps file and the monthly service-done file (``flows.formats``).

Both are written as a stream (``yield_per``) under a temporary name in
``<data_dir>/flows/outbox/`` and renamed when complete; the same data gives
the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session, aliased

from flows import formats
from kernel.files import atomic_writer
from kernel.settings import money
from ledger.facts import month_billing
from ledger.models import (
    Antenna,
    Beneficiary,
    CallEvent,
    PlannedVisit,
    Visit,
    VisitStatus,
    VisitVersion,
    Worker,
)
from ledger.money import Category, Rounding, recorded_minutes
from ledger.timeutil import Month, as_utc, utc_now

YIELD = 5000


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    #: Lines of the timestamps file that are late changes to earlier days.
    late: int = 0
    #: The instant up to which late changes were read.
    until: datetime | None = None


def outbox(data_dir: Path) -> Path:
    return data_dir / "flows" / "outbox"


def write_csv(path: Path, fmt: formats.FileFormat, rows: Iterator[list[str]]) -> int:
    count = 0
    with atomic_writer(path) as handle:
        handle.write(fmt.header.encode(formats.ENCODING) + formats.EOL)
        for row in rows:
            handle.write(formats.encode_row(row, fmt))
            count += 1
    return count


#: ``nature`` of a line of the timestamps file (``flows.formats.TIMESTAMPS``).
DAY = "jour"
LATE_CORRECTION = "correction"
LATE_MANUAL = "saisie"
LATE_DELETION = "suppression"


def _late_nature(status: VisitStatus) -> str:
    if status is VisitStatus.DELETED:
        return LATE_DELETION
    if status is VisitStatus.MANUAL:
        return LATE_MANUAL
    return LATE_CORRECTION


def _visit_rows(session: Session, where: ColumnElement[bool], late: bool) -> Iterator[list[str]]:
    arrival = aliased(CallEvent)
    departure = aliased(CallEvent)
    current = aliased(VisitVersion)
    stmt = (
        select(
            Visit,
            Worker.external_id,
            Beneficiary.external_id,
            Antenna.code,
            current.motive,
            arrival.answered_at,
            departure.answered_at,
        )
        .join(Worker, Worker.id == Visit.worker_id)
        .join(Beneficiary, Beneficiary.id == Visit.beneficiary_id)
        .join(Antenna, Antenna.id == Visit.antenna_id)
        .outerjoin(current, and_(current.visit_id == Visit.id, current.version == Visit.version))
        .outerjoin(arrival, arrival.id == Visit.arrival_event_id)
        .outerjoin(departure, departure.id == Visit.departure_event_id)
        .where(where)
        .order_by(Visit.id)
        .execution_options(yield_per=YIELD)
    )
    for visit, worker_ext, ben_ext, antenna, motive, raw_in, raw_out in session.execute(stmt):
        deleted = visit.status is VisitStatus.DELETED
        minutes = ""
        if visit.started_at and visit.ended_at and not deleted:
            minutes = str(recorded_minutes(visit.started_at, visit.ended_at))
        yield [
            str(visit.id),
            worker_ext,
            ben_ext,
            antenna,
            formats.format_date(visit.service_date),
            visit.status.value,
            formats.format_datetime(raw_in),
            formats.format_datetime(raw_out),
            formats.format_datetime(visit.started_at),
            formats.format_datetime(visit.ended_at),
            minutes,
            motive.value if motive else "",
            str(visit.version),
            visit.service_code or "",
            _late_nature(visit.status) if late else DAY,
        ]
    session.expunge_all()


def late_changes(session: Session, day: date, since: datetime, until: datetime) -> Select:  # type: ignore[type-arg]
    """Ids of the visits of days before ``day`` with a version written in [since, until)."""
    return (
        select(VisitVersion.visit_id)
        .join(Visit, Visit.id == VisitVersion.visit_id)
        .where(
            VisitVersion.created_at >= since,
            VisitVersion.created_at < until,
            Visit.service_date < day,
        )
        .distinct()
    )


def timestamps_rows(
    session: Session,
    day: date,
    changes_since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[list[str]]:
    """The day's visits, then the late changes to earlier days since ``changes_since``."""
    yield from _visit_rows(session, Visit.service_date == day, late=False)
    if changes_since is not None:
        ids = late_changes(session, day, changes_since, until or utc_now())
        yield from _visit_rows(session, Visit.id.in_(ids), late=True)


@dataclass
class _Counter:
    late: int = 0


def export_timestamps(
    session: Session,
    day: date,
    data_dir: Path,
    *,
    changes_since: datetime | None = None,
    until: datetime | None = None,
) -> ExportResult:
    """The day's timestamps file; with ``changes_since``, also the late changes since then.

    ``until`` (default: now, taken before reading) is where the next file's
    late changes start (less a margin, see ``flows.jobs``).
    """
    until = until or utc_now()
    path = outbox(data_dir) / f"horodatages_{day:%Y%m%d}.csv"
    counter = _Counter()

    def counted() -> Iterator[list[str]]:
        for row in timestamps_rows(session, day, changes_since, until):
            counter.late += row[-1] != DAY
            yield row

    rows = write_csv(path, formats.TIMESTAMPS, counted())
    return ExportResult(path, rows, late=counter.late, until=until)


_CATEGORY_LABELS = {
    Category.WITHIN: "dans_plan",
    Category.BEYOND: "au_dela",
    Category.OUTSIDE: "hors_plan",
}


def service_done_rows(
    session: Session, year: int, month: int, rules: Mapping[str, Rounding] | None = None
) -> Iterator[list[str]]:
    """One line per visit and funder share, from the ledger's rules of money."""
    period = Month(year, month)
    start_utc, end_utc = period.bounds_utc()
    planned: dict[tuple[int, int], list[tuple[datetime, datetime]]] = {}
    for worker_id, ben_id, p_start, p_end in session.execute(
        select(
            PlannedVisit.worker_id,
            PlannedVisit.beneficiary_id,
            PlannedVisit.starts_at,
            PlannedVisit.ends_at,
        ).where(PlannedVisit.ends_at > start_utc, PlannedVisit.starts_at < end_utc)
    ):
        planned.setdefault((worker_id, ben_id), []).append((as_utc(p_start), as_utc(p_end)))
    # The funders' rounding from the one setting every output of money reads.
    rules = money().rules if rules is None else rules
    _facts, billing = month_billing(session, period, dict(rules))
    motives: dict[int, str] = {}
    current = aliased(VisitVersion)
    for visit_id, motive in session.execute(
        select(Visit.id, current.motive)
        .join(current, and_(current.visit_id == Visit.id, current.version == Visit.version))
        .where(
            Visit.service_date >= period.first_day,
            Visit.service_date <= period.last_day,
            current.motive.is_not(None),
        )
    ):
        if motive is not None:
            motives[visit_id] = motive.value
    worker_refs = {wid: ref for wid, ref in session.execute(select(Worker.id, Worker.external_id))}
    ben_refs = {
        bid: ref for bid, ref in session.execute(select(Beneficiary.id, Beneficiary.external_id))
    }
    for vb in sorted(billing.visits, key=lambda item: item.visit.visit_id):
        visit = vb.visit
        start, end = vb.recorded.start, vb.recorded.end
        minutes = recorded_minutes(start, end)
        extra = 0
        for p_start, p_end in planned.get((visit.worker_id, visit.beneficiary_id), ()):
            if p_start < end and start < p_end:
                extra = max(0, minutes - recorded_minutes(p_start, p_end))
                break
        for share in vb.shares:
            code = visit.service_code or (share.plan.service_code if share.plan else "")
            yield [
                str(visit.visit_id),
                ben_refs[visit.beneficiary_id],
                worker_refs[visit.worker_id],
                formats.format_minute(start),
                formats.format_minute(end),
                str(minutes),
                str(extra),
                motives.get(visit.visit_id, ""),
                code,
                share.plan.funder_code if share.plan else "",
                share.plan.reference if share.plan else "",
                _CATEGORY_LABELS[share.category],
                str(share.minutes),
            ]


def export_service_done(
    session: Session,
    year: int,
    month: int,
    data_dir: Path,
    rules: Mapping[str, Rounding] | None = None,
    *,
    revision: int = 1,
) -> ExportResult:
    """The month's service done; revision N > 1 (after a reopen) replaces the earlier files."""
    suffix = "" if revision <= 1 else f"_v{revision}"
    path = outbox(data_dir) / f"prestations_{year:04d}{month:02d}{suffix}.csv"
    rows = write_csv(path, formats.SERVICE_DONE, service_done_rows(session, year, month, rules))
    return ExportResult(path, rows)
