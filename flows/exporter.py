"""The daily timestamps file and the monthly service-done file (``flows.formats``).

Both are written as a stream (``yield_per``) under a temporary name in
``<data_dir>/flows/outbox/`` and renamed when complete; the same data gives
the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from flows import formats
from ledger.models import (
    Antenna,
    Beneficiary,
    CallEvent,
    CarePlan,
    PlannedVisit,
    Visit,
    VisitStatus,
    VisitVersion,
    Worker,
)
from ledger.timeutil import as_utc, duration, paris_month_bounds

YIELD = 5000


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int


def outbox(data_dir: Path) -> Path:
    return data_dir / "flows" / "outbox"


def write_csv(path: Path, fmt: formats.FileFormat, rows: Iterator[list[str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    count = 0
    try:
        with open(partial, "wb") as handle:
            handle.write(fmt.header.encode(formats.ENCODING) + formats.EOL)
            for row in rows:
                handle.write(formats.encode_row(row, fmt))
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes between two instants with their seconds dropped (the pre-billing's base)."""
    start_min = as_utc(start).replace(second=0, microsecond=0)
    end_min = as_utc(end).replace(second=0, microsecond=0)
    return int(duration(start_min, end_min).total_seconds() // 60)


def timestamps_rows(session: Session, day: date) -> Iterator[list[str]]:
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
        .where(Visit.service_date == day)
        .order_by(Visit.id)
        .execution_options(yield_per=YIELD)
    )
    for visit, worker_ext, ben_ext, antenna, motive, raw_in, raw_out in session.execute(stmt):
        deleted = visit.status is VisitStatus.DELETED
        minutes = ""
        if visit.started_at and visit.ended_at and not deleted:
            minutes = str(minutes_between(visit.started_at, visit.ended_at))
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
        ]
    session.expunge_all()


def export_timestamps(session: Session, day: date, data_dir: Path) -> ExportResult:
    path = outbox(data_dir) / f"horodatages_{day:%Y%m%d}.csv"
    rows = write_csv(path, formats.TIMESTAMPS, timestamps_rows(session, day))
    return ExportResult(path, rows)


def _month_days(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following


def service_done_rows(session: Session, year: int, month: int) -> Iterator[list[str]]:
    first, following = _month_days(year, month)
    start_utc, end_utc = paris_month_bounds(year, month)
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
    plans: dict[int, list[tuple[date, date | None, str]]] = {}
    for ben_id, p_from, p_until, service in session.execute(
        select(CarePlan.beneficiary_id, CarePlan.starts_on, CarePlan.ends_on, CarePlan.service_code)
        .where(CarePlan.starts_on < following)
        .where((CarePlan.ends_on.is_(None)) | (CarePlan.ends_on >= first))
        .order_by(CarePlan.starts_on, CarePlan.id)
    ):
        plans.setdefault(ben_id, []).append((p_from, p_until, service))
    current = aliased(VisitVersion)
    # Plain columns, not entities: no identity map over half a million rows.
    stmt = (
        select(
            Visit.id,
            Visit.worker_id,
            Visit.beneficiary_id,
            Visit.started_at,
            Visit.ended_at,
            Visit.service_date,
            Visit.service_code,
            Worker.external_id,
            Beneficiary.external_id,
            current.motive,
        )
        .join(Worker, Worker.id == Visit.worker_id)
        .join(Beneficiary, Beneficiary.id == Visit.beneficiary_id)
        .outerjoin(current, and_(current.visit_id == Visit.id, current.version == Visit.version))
        .where(
            Visit.service_date >= first,
            Visit.service_date < following,
            Visit.status != VisitStatus.DELETED,
            Visit.started_at.is_not(None),
            Visit.ended_at.is_not(None),
        )
        .order_by(Visit.id)
        .execution_options(yield_per=YIELD)
    )
    for row in session.execute(stmt):
        visit_id, worker_id, ben_id, started, ended, service_date, service_code = row[:7]
        worker_ext, ben_ext, motive = row[7:]
        assert started is not None and ended is not None
        start, end = as_utc(started), as_utc(ended)
        minutes = minutes_between(start, end)
        extra = 0
        for p_start, p_end in planned.get((worker_id, ben_id), ()):
            if p_start < end and start < p_end:
                extra = max(0, minutes - minutes_between(p_start, p_end))
                break
        code = service_code
        if not code:
            for p_from, p_until, plan_code in plans.get(ben_id, ()):
                if p_from <= service_date and (p_until is None or service_date <= p_until):
                    code = plan_code
                    break
        yield [
            str(visit_id),
            ben_ext,
            worker_ext,
            formats.format_minute(start),
            formats.format_minute(end),
            str(minutes),
            str(extra),
            motive.value if motive else "",
            code or "",
        ]
    session.expunge_all()


def export_service_done(session: Session, year: int, month: int, data_dir: Path) -> ExportResult:
    path = outbox(data_dir) / f"prestations_{year:04d}{month:02d}.csv"
    rows = write_csv(path, formats.SERVICE_DONE, service_done_rows(session, year, month))
    return ExportResult(path, rows)
