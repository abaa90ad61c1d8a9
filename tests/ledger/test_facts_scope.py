"""A worker's month (state 8's planning) is allocated as in the whole month."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.facts import month_billing
from ledger.money import Rounding, RoundingMode
from tests.factories import SmallOrg
from tests.ledger.test_figures import OCTOBER, october


def test_a_workers_visits_keep_the_minutes_of_the_whole_month(
    session: Session, org: SmallOrg
) -> None:
    october(session, org)
    rules = {"APA75": Rounding(15, RoundingMode.NEAREST, 5)}
    _facts, whole = month_billing(session, OCTOBER, rules)
    kept = {vb.visit.visit_id: vb.kept.minutes for vb in whole.visits}
    # The rounding of a1's beneficiary's plan applies (67 minutes are not kept as such);
    # a2's beneficiary has no plan, no rounding (68 minutes kept).
    assert 67 not in kept.values() and 68 in kept.values()
    for worker in (org.worker_a1, org.worker_a2, org.worker_b1):
        _facts, alone = month_billing(session, OCTOBER, rules, worker_id=worker.id)
        mine = {vb.visit.visit_id: vb.kept.minutes for vb in alone.visits}
        assert len(mine) == 3
        assert mine == {vid: kept[vid] for vid in mine}
