"""The organisation as the planning software would send it: input-format files from the ledger.

Used to seed the planning software's side (or a test) with the current state,
and by the round-trip test: a file imported then written back is the same file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import formats
from flows.exporter import ExportResult, write_csv
from ledger.models import Antenna, Beneficiary, CarePlan, Funder, Phone, Worker


def format_hours(hours: float) -> str:
    """Hours the way the files write them: no useless zero, a dot (``40``, ``45.5``)."""
    text = f"{Decimal(str(hours)).quantize(Decimal('0.01')).normalize():f}"
    return text


def workers_rows(session: Session) -> Iterator[list[str]]:
    stmt = (
        select(Worker, Antenna.code, Antenna.address)
        .join(Antenna, Antenna.id == Worker.antenna_id)
        .order_by(Worker.external_id)
        .execution_options(yield_per=2000)
    )
    for worker, antenna_code, antenna_address in session.execute(stmt):
        yield [
            worker.external_id,
            worker.civility.value,
            worker.last_name,
            worker.first_name,
            antenna_code,
            antenna_address,
            worker.phone_code,
            formats.format_date(worker.active_from),
            formats.format_date(worker.active_until),
            worker.language,
        ]


def beneficiaries_rows(session: Session, day: date) -> Iterator[list[str]]:
    """Beneficiaries in care on ``day`` with their numbers and their latest plan then."""
    stmt = (
        select(Beneficiary, Antenna.code)
        .join(Antenna, Antenna.id == Beneficiary.antenna_id)
        .where((Beneficiary.care_end.is_(None)) | (Beneficiary.care_end >= day))
        .order_by(Beneficiary.external_id)
    )
    batch: list[tuple[Beneficiary, str]] = []
    for row in session.execute(stmt.execution_options(yield_per=2000)):
        batch.append((row[0], row[1]))
        if len(batch) == 2000:
            yield from _beneficiary_batch(session, batch, day)
            batch = []
    yield from _beneficiary_batch(session, batch, day)


def _beneficiary_batch(
    session: Session, batch: list[tuple[Beneficiary, str]], day: date
) -> Iterator[list[str]]:
    ids = [b.id for b, _ in batch]
    phones: dict[int, list[str]] = {}
    for phone in session.scalars(
        select(Phone)
        .where(Phone.beneficiary_id.in_(ids), Phone.active_from <= day)
        .where((Phone.active_until.is_(None)) | (Phone.active_until >= day))
        .order_by(Phone.id)
    ):
        phones.setdefault(phone.beneficiary_id, []).append(phone.e164)
    plans: dict[int, list[tuple[CarePlan, str]]] = {}
    for plan, funder_code in session.execute(
        select(CarePlan, Funder.code)
        .join(Funder, Funder.id == CarePlan.funder_id)
        .where(CarePlan.beneficiary_id.in_(ids))
        .order_by(CarePlan.starts_on, CarePlan.id)
    ):
        plans.setdefault(plan.beneficiary_id, []).append((plan, funder_code))
    for ben, antenna_code in batch:
        if ben.id not in plans:
            continue
        # One line per plan in force or to come; a beneficiary whose plans all ended: the last.
        every = plans[ben.id]
        current = [(p, c) for p, c in every if p.ends_on is None or p.ends_on >= day]
        numbers = (phones.get(ben.id, []) + ["", "", ""])[:3]
        for plan, funder_code in current or every[-1:]:
            yield [
                ben.external_id,
                ben.civility.value,
                ben.last_name,
                ben.first_name,
                ben.address,
                ben.postcode,
                ben.city,
                formats.format_date(ben.birth_date),
                antenna_code,
                formats.format_date(ben.care_start),
                formats.format_date(ben.care_end),
                "" if ben.gir is None else str(ben.gir),
                *numbers,
                funder_code,
                plan.reference,
                formats.format_date(plan.starts_on),
                formats.format_date(plan.ends_on),
                format_hours(plan.max_hours),
                plan.service_code,
                ben.sex or "",
            ]


def write_workers(session: Session, folder: Path, day: date) -> ExportResult:
    path = folder / f"intervenants_{day:%Y%m%d}.csv"
    return ExportResult(path, write_csv(path, formats.WORKERS, workers_rows(session)))


def write_beneficiaries(session: Session, folder: Path, day: date) -> ExportResult:
    path = folder / f"beneficiaires_{day:%Y%m%d}.csv"
    rows = beneficiaries_rows(session, day)
    return ExportResult(path, write_csv(path, formats.BENEFICIARIES, rows))
