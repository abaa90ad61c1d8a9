"""Billing benchmark: pre-billing and teletransmission of one month, in memory.

    .venv/bin/python -m bench.billing.run [--beneficiaries 100000] [--visits 8]

Generates plain data (no database): ``--beneficiaries`` with one Département
plan each (APA, ASL or PCH; 3 % change funder mid-month, 6 % have a second,
mutual plan, 20 % have only a non-Département funder) and ``--visits`` visits
each in October 2026 (across the daylight-saving change). Prints:
  * baseline: a bare sum of the visits' durations over the same objects
    (the floor for any pass over the month);
  * pre-billing: ``ledger.money.allocate_month`` (rounding, plan
    allocation, lines by beneficiary, funder and worker);
  * declarations: ``ledger.declarations.declarable`` (one per visit and
    funder) and ``diff`` against nothing (a first send), then against the
    stored state of that first send (a later send with nothing to say);
  * teletransmission: ``billing_export.esppadom.write_delivery`` for every
    Département funder into a byte-counting sink (build, XSD validation by chunks,
    serialisation), with the file sizes.
Times are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from billing_export.esppadom import (
    BeneficiaryInfo,
    Provider,
    WorkerInfo,
    write_delivery,
)
from ledger.declarations import Declared, declarable, diff
from ledger.funders import FunderIdentity
from ledger.money import PlanFact, VisitFact, allocate_month, parse_rounding_rules

FUNDERS = {
    code: FunderIdentity(code, f"Département — {kind}", kind, platform_id=f"CD75-{code}")
    for code, kind in (
        ("APA75", "APA"),
        ("ASLPA75", "ASL_PA"),
        ("ASLPH75", "ASL_PH"),
        ("PCH75", "PCH"),
    )
}
OTHERS = {
    code: FunderIdentity(code, code, kind)
    for code, kind in (("CNAV", "CAISSE"), ("MUT", "MUTUELLE"))
}
PROVIDER = Provider(
    "750012345", "Paris Domicile", "12345678900011", "1 rue de Rivoli", "75004", "Paris"
)


def generate(
    beneficiaries: int, per_ben: int, seed: int = 2026
) -> tuple[list[VisitFact], list[PlanFact], dict[int, BeneficiaryInfo], dict[int, WorkerInfo]]:
    rng = random.Random(seed)
    month_start = datetime(2026, 9, 30, 22, 0, tzinfo=UTC)  # 1 Oct 00:00 Paris
    plans: list[PlanFact] = []
    visits: list[VisitFact] = []
    people: dict[int, BeneficiaryInfo] = {}
    workers = {
        w: WorkerInfo(f"SAL{w:06d}", "Awa", f"Diallo{w}") for w in range(1, beneficiaries // 10 + 2)
    }
    kinds = [("APA75", "APA")] * 6 + [
        ("ASLPA75", "ASL_PA"),
        ("ASLPH75", "ASL_PH"),
        ("PCH75", "PCH"),
    ]
    vid = pid = 0
    for ben in range(1, beneficiaries + 1):
        people[ben] = BeneficiaryInfo(
            f"BEN{ben:07d}",
            "Jeanne",
            f"Martin{ben}",
            date(1935, 1, 1),
            "12 rue Oberkampf",
            "75011",
            "Paris",
        )
        roll = rng.random()
        start = date(2026, 1, 1)
        if roll < 0.2:
            pid += 1
            plans.append(
                PlanFact(pid, ben, "CNAV", "CAISSE", False, "CAISSE", f"P{pid}", 1200, start, None)
            )
        else:
            code, kind = rng.choice(kinds)
            if roll < 0.23:
                pid += 1
                plans.append(
                    PlanFact(
                        pid,
                        ben,
                        "CNAV",
                        "CAISSE",
                        False,
                        "CAISSE",
                        f"P{pid}",
                        1200,
                        start,
                        date(2026, 10, 14),
                    )
                )
                start = date(2026, 10, 15)
            pid += 1
            plans.append(
                PlanFact(
                    pid,
                    ben,
                    code,
                    kind,
                    True,
                    "AIDE",
                    f"P{pid}",
                    rng.choice([480, 900, 1500, 2400]),
                    start,
                    None,
                )
            )
            if rng.random() < 0.06:
                pid += 1
                plans.append(
                    PlanFact(
                        pid, ben, "MUT", "MUTUELLE", False, "AIDE", f"P{pid}", 600, start, None
                    )
                )
        worker = rng.randrange(1, len(workers) + 1)
        for _ in range(per_ben):
            vid += 1
            begin = month_start + timedelta(
                minutes=rng.randrange(0, 31 * 24 * 60 - 600), seconds=rng.randrange(60)
            )
            end = begin + timedelta(
                minutes=rng.choice([30, 45, 60, 90, 120]) + rng.randrange(-5, 6),
                seconds=rng.randrange(60),
            )
            local_day = (
                begin + timedelta(hours=2 if begin < datetime(2026, 10, 25, 1, tzinfo=UTC) else 1)
            ).date()
            visits.append(
                VisitFact(vid, ben, worker, local_day, begin, end, begin, end, None, "", "complete")
            )
    return visits, plans, people, workers


class ByteCounter(io.RawIOBase):
    """A write-only sink that counts bytes: measures building, not the disk."""

    size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any, /) -> int:
        self.size += len(data)
        return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--beneficiaries", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=8, help="visits per beneficiary in the month")
    args = parser.parse_args()

    started = time.perf_counter()
    visits, plans, people, workers = generate(args.beneficiaries, args.visits)
    print(
        f"data: {args.beneficiaries:,} beneficiaries, {len(plans):,} plans, {len(visits):,} visits "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )

    started = time.perf_counter()
    total = sum(
        (v.ended_at - v.started_at).total_seconds() for v in visits if v.ended_at and v.started_at
    )
    baseline = time.perf_counter() - started
    print(f"baseline   sum of durations      {baseline:8.2f} s  ({total / 3600:,.0f} h)")

    rules = parse_rounding_rules("APA75=15/nearest/5")
    started = time.perf_counter()
    billing = allocate_month(2026, 10, visits, plans, rules)
    elapsed = time.perf_counter() - started
    print(
        f"pre-billing allocate_month()             {elapsed:8.2f} s  "
        f"({len(visits) / elapsed:,.0f} visits/s, "
        f"{elapsed / baseline:.0f}x baseline, {len(billing.lines):,} lines)"
    )

    started = time.perf_counter()
    lines, held = declarable(billing, {**FUNDERS, **OTHERS})
    first = diff({}, lines, [h.line.key for h in held])
    elapsed = time.perf_counter() - started
    print(
        f"declarations declarable() + diff()      {elapsed:8.2f} s  "
        f"({len(first):,} declarations, {len(first) / elapsed:,.0f}/s, first send)"
    )
    store = {
        c.line.key: Declared(c.document_id, c.line, c.line.digest, False, 1, "f") for c in first
    }
    started = time.perf_counter()
    quiet = diff(store, lines, [h.line.key for h in held])
    elapsed = time.perf_counter() - started
    print(
        f"what changed since the last send diff() {elapsed:8.2f} s  "
        f"({len(quiet):,} changes against {len(store):,} stored declarations)"
    )

    issued = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    started = time.perf_counter()
    advices = 0
    sizes = []
    for funder in FUNDERS.values():
        sink = ByteCounter()
        changes = [c for c in first if c.line.funder_code == funder.code]
        advices += len(write_delivery(sink, changes, funder, PROVIDER, people, workers, issued))
        sizes.append(f"{funder.code} {sink.size / 1e6:,.0f} MB")
    elapsed = time.perf_counter() - started
    print(
        f"teletransmission write_delivery() {elapsed:8.2f} s  "
        f"({advices / elapsed:,.0f} advices/s, "
        f"{advices:,} advices validated against the XSD; {', '.join(sizes)})"
    )


if __name__ == "__main__":
    main()
