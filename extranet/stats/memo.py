"""Months allocated by the ledger, kept between requests for as long as their data is unchanged.

The thirteen states read the same months through the same rule
(``ledger.facts.month_billing``); a manager looking at several states of a
month, or at the same state with another filter, would have the month loaded
and allocated again each time. ``MonthMemo`` keeps the last allocated months of
the process, each with a fingerprint of everything the allocation reads, and
gives a kept month back only when the fingerprint read again is the same: the
figures are the ledger's, never older than the data.

The fingerprint is read from PostgreSQL's row versions (``xmin``, the
transaction that wrote the row): for the month's visits in the antennas (and
the beneficiary or worker filter), the care plans of the antennas'
beneficiaries with those beneficiaries, and the funders, the count of rows and
the sum of their ``xmin``. Any insert, update or move of one of those rows
changes it: an update writes a row version with a later transaction, visits
are never deleted (a deletion is a status), and a correction, a paired call or
an attached call all update the visit row. Raw calls are append-only. On other
databases (SQLite, the tests' and the embedded setting) nothing is kept.

Memory is bounded by ``max_visits``: the oldest months are dropped first, and a
month larger than the bound is computed and not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Hashable

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from ledger.facts import MonthFacts, month_billing
from ledger.money import MonthBilling, Rounding
from ledger.timeutil import Month

Fingerprint = tuple[int, ...]

_VISITS = """
SELECT count(*), coalesce(sum(xmin::text::bigint), 0) FROM visits
WHERE service_date >= :first AND service_date <= :last {where}
"""
_PLANS = """
SELECT count(*), coalesce(sum(p.xmin::text::bigint + b.xmin::text::bigint), 0)
FROM care_plans p JOIN beneficiaries b ON b.id = p.beneficiary_id
WHERE p.starts_on <= :last AND (p.ends_on IS NULL OR p.ends_on >= :first) {where}
"""
_FUNDERS = "SELECT count(*), coalesce(sum(xmin::text::bigint), 0) FROM funders"


def fingerprint(
    session: Session,
    month: Month,
    antenna_ids: Collection[int] | None,
    beneficiary_id: int | None,
    worker_id: int | None,
) -> Fingerprint:
    """Rows and sums of their xmin: the visits, the plans and the funders the month reads."""
    params: dict[str, object] = {"first": month.first_day, "last": month.last_day}
    visits, plans = [], []
    if antenna_ids is not None:
        params["antennas"] = sorted(antenna_ids)
        visits.append("AND antenna_id IN :antennas")
        plans.append("AND b.antenna_id IN :antennas")
    if beneficiary_id is not None:
        params["beneficiary"] = beneficiary_id
        visits.append("AND beneficiary_id = :beneficiary")
        plans.append("AND p.beneficiary_id = :beneficiary")
    if worker_id is not None:
        params["worker"] = worker_id
        visits.append("AND worker_id = :worker")
    found: list[int] = []
    for sql, where in ((_VISITS, visits), (_PLANS, plans), (_FUNDERS, [])):
        statement = text(sql.format(where=" ".join(where)))
        if "antennas" in params and ":antennas" in statement.text:
            statement = statement.bindparams(bindparam("antennas", expanding=True))
        wanted = {k: v for k, v in params.items() if f":{k}" in statement.text}
        row = session.execute(statement, wanted).one()
        found += [int(row[0]), int(row[1])]
    return tuple(found)


class MonthMemo:
    def __init__(self, max_visits: int = 250_000) -> None:
        self.max_visits = max_visits
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, tuple[Fingerprint, MonthFacts, MonthBilling]] = (
            OrderedDict()
        )
        self.hits = 0

    def month_billing(
        self,
        session: Session,
        month: Month,
        rules: dict[str, Rounding],
        antenna_ids: Collection[int] | None,
        *,
        beneficiary_id: int | None = None,
        worker_id: int | None = None,
    ) -> tuple[MonthFacts, MonthBilling]:
        """``ledger.facts.month_billing``, from the memo when nothing it reads has changed."""

        def compute() -> tuple[MonthFacts, MonthBilling]:
            return month_billing(
                session,
                month,
                rules,
                antenna_ids,
                beneficiary_id=beneficiary_id,
                worker_id=worker_id,
            )

        bind = session.get_bind()
        if self.max_visits <= 0 or bind.dialect.name != "postgresql":
            return compute()
        found = fingerprint(session, month, antenna_ids, beneficiary_id, worker_id)
        if found[0] > self.max_visits:
            return compute()
        key = (
            str(bind.engine.url),
            month,
            None if antenna_ids is None else frozenset(antenna_ids),
            beneficiary_id,
            worker_id,
            tuple(sorted(rules.items())),
        )
        with self._lock:
            kept = self._values.get(key)
            if kept is not None and kept[0] == found:
                self._values.move_to_end(key)
                self.hits += 1
                return kept[1], kept[2]
        facts, billing = compute()
        with self._lock:
            self._values[key] = (found, facts, billing)
            self._values.move_to_end(key)
            while sum(len(v[1].visits) for v in self._values.values()) > self.max_visits:
                self._values.popitem(last=False)
        return facts, billing
