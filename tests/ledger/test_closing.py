"""A month's life, pure rules: cut-off, phases, close, reopen (hypothesis properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import closing
from ledger.closing import (
    ClosingError,
    Cutoff,
    MonthClosedError,
    MonthLife,
    MonthPhase,
    Validation,
)
from ledger.money import Category, Line, LineKey
from ledger.timeutil import Month, to_paris

OCTOBER = Month(2026, 10)
#: 5 November 2026, 23:59 Paris (UTC+1) is 22:59 UTC.
CUTOFF_UTC = datetime(2026, 11, 5, 22, 59, tzinfo=UTC)

months = st.builds(Month, st.integers(2000, 2100), st.integers(1, 12))
cutoffs = st.builds(Cutoff, st.integers(1, 28), st.integers(0, 23), st.integers(0, 59))
instants = st.datetimes(
    min_value=datetime(1999, 1, 1), max_value=datetime(2101, 12, 31), timezones=st.just(UTC)
)
digests = st.dictionaries(
    st.sampled_from(["APA75", "CAISSE1", "PCH75", closing.OUTSIDE_PLAN]),
    st.text("0123456789abcdef", min_size=4, max_size=4),
)


def in_review(life: MonthLife = MonthLife(OCTOBER)) -> tuple[MonthLife, datetime]:
    return life, CUTOFF_UTC + timedelta(minutes=1)


def test_default_cutoff_is_the_5th_at_23_59_paris() -> None:
    assert Cutoff().at(OCTOBER) == CUTOFF_UTC
    assert Cutoff().label(OCTOBER) == "5 novembre 2026 à 23 h 59"
    # Summer time: 5 April 2027 23:59 in Paris is 21:59 UTC.
    assert Cutoff().at(Month(2027, 3)) == datetime(2027, 4, 5, 21, 59, tzinfo=UTC)
    # December's cut-off is in January of the next year.
    assert Cutoff(10, 12, 0).at(Month(2026, 12)) == datetime(2027, 1, 10, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", [(0, 23, 59), (29, 23, 59), (5, 24, 0), (5, 23, 60)])
def test_a_cutoff_that_not_every_month_has_is_refused(bad: tuple[int, int, int]) -> None:
    with pytest.raises(ClosingError):
        Cutoff(*bad)


@given(months, cutoffs)
def test_the_cutoff_is_in_the_next_month_at_its_paris_wall_time(month: Month, cut: Cutoff) -> None:
    local = to_paris(cut.at(month))
    assert Month.of(local.date()) == month.next()
    assert (local.day, local.minute) == (cut.day, cut.minute)
    # The hour may be moved forward by the March gap only.
    assert local.hour in (cut.hour, cut.hour + 1)


def test_phases_around_the_cutoff() -> None:
    life = MonthLife(OCTOBER)
    assert closing.phase(life, CUTOFF_UTC - timedelta(seconds=1)) is MonthPhase.OPEN
    assert closing.phase(life, CUTOFF_UTC) is MonthPhase.IN_REVIEW
    assert closing.days_to_cutoff(OCTOBER, datetime(2026, 11, 1, 9, tzinfo=UTC)) == 4
    assert closing.days_to_cutoff(OCTOBER, CUTOFF_UTC) == 0
    assert closing.phase(MonthLife(OCTOBER, closed=True), CUTOFF_UTC) is MonthPhase.CLOSED


@given(months, cutoffs, instants, instants)
def test_phase_never_goes_back_as_time_passes(
    month: Month, cut: Cutoff, a: datetime, b: datetime
) -> None:
    early, late = sorted((a, b))
    order = [MonthPhase.OPEN, MonthPhase.IN_REVIEW]
    life = MonthLife(month)
    assert order.index(closing.phase(life, early, cut)) <= order.index(
        closing.phase(life, late, cut)
    )


@given(months, st.booleans())
def test_writes_are_refused_exactly_when_closed(month: Month, closed: bool) -> None:
    life = MonthLife(month, closed=closed)
    if closed:
        with pytest.raises(MonthClosedError) as refused:
            closing.check_writable(life)
        message = str(refused.value)
        assert month.label in message and "référent central" in message
    else:
        closing.check_writable(life)


def test_validation_waits_for_the_cutoff() -> None:
    with pytest.raises(ClosingError, match="après la date limite"):
        closing.check_validate(MonthLife(OCTOBER), CUTOFF_UTC - timedelta(hours=1))
    closing.check_validate(*in_review())


@given(digests, digests)
def test_close_needs_every_funder_validated_on_its_current_figures(
    given_: dict[str, str], current: dict[str, str]
) -> None:
    life, now = in_review()
    complete = all(given_.get(code) == digest for code, digest in current.items())
    if complete:
        closed = closing.close(life, now=now, actor="ref", validations=given_, current=current)
        assert closed.closed and closed.revision == 1 and closed.closed_by == "ref"
    else:
        with pytest.raises(ClosingError, match="à valider"):
            closing.close(life, now=now, actor="ref", validations=given_, current=current)


def test_close_before_the_cutoff_or_twice_is_refused() -> None:
    with pytest.raises(ClosingError, match="après la date limite"):
        closing.close(
            MonthLife(OCTOBER),
            now=CUTOFF_UTC - timedelta(minutes=1),
            actor="ref",
            validations={},
            current={},
        )
    life, now = in_review()
    closed = closing.close(life, now=now, actor="ref", validations={}, current={})
    with pytest.raises(ClosingError, match="déjà clôturé"):
        closing.close(closed, now=now, actor="ref", validations={}, current={})


@given(st.integers(1, 5), st.text(min_size=0, max_size=30))
def test_each_close_after_a_reopen_is_a_new_revision(cycles: int, motive: str) -> None:
    life, now = in_review()
    for n in range(1, cycles + 1):
        life = closing.close(life, now=now, actor="ref", validations={}, current={})
        assert life.closed and life.revision == n
        if len(" ".join(motive.split())) < closing.MIN_MOTIVE:
            with pytest.raises(ClosingError, match="motif"):
                closing.reopen(life, now=now, actor="ref", motive=motive)
            return
        life = closing.reopen(life, now=now, actor="ref", motive=motive)
        assert not life.closed and life.revision == n
        assert closing.phase(life, now) is MonthPhase.IN_REVIEW
        assert life.reopen_motive == " ".join(motive.split())


def test_reopen_needs_a_closed_month() -> None:
    with pytest.raises(ClosingError, match="n'est pas clôturé"):
        closing.reopen(MonthLife(OCTOBER), now=CUTOFF_UTC, actor="ref", motive="erreur de saisie")


def _line(funder: str, minutes: int, worker: int = 1) -> Line:
    return Line(
        LineKey(1, funder, 7 if funder else None, "AIDE", worker, Category.WITHIN), 1, minutes
    )


def test_a_changed_figure_makes_only_its_funders_validation_stale() -> None:
    before = closing.funder_digests([_line("APA75", 60), _line("CAISSE1", 30), _line("", 15)])
    after = closing.funder_digests([_line("APA75", 61), _line("CAISSE1", 30), _line("", 15)])
    assert set(before) == {"APA75", "CAISSE1", closing.OUTSIDE_PLAN}
    assert closing.validation_state(before["APA75"], after["APA75"]) is Validation.STALE
    assert closing.validation_state(before["CAISSE1"], after["CAISSE1"]) is Validation.VALID
    assert closing.validation_state(None, after["CAISSE1"]) is Validation.MISSING


@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 600)), max_size=8))
def test_funder_digest_ignores_line_order(rows: list[tuple[int, int]]) -> None:
    lines = [_line("APA75", minutes, worker) for worker, minutes in rows]
    assert closing.funder_digests(lines) == closing.funder_digests(list(reversed(lines)))
