"""The SIP side of ``bench/ivr --sip``: workers' phones as sipp calls over SIP and RTP.

Each call comes from its own number (caller in From and P-Asserted-Identity)
and keys its own worker's code as RFC 4733 events, from the per-slot pcaps of
``tests/ivr/sipload.py`` (so any code, 2951 or 5555, reaches Asterisk whole).
The Stasis IVR is reached on the toll-free number, the dialplan-only IVR on
0800000099 of the same trunk (asterisk/etc/extensions.conf): same Asterisk,
same sipp, same callers' kind, one after the other at each rate.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.ivr import breakdown
from ledger.models import CallEvent, CallOutcome
from tests.ivr.sipload import PhoneCall, start_sipp

STASIS_NUMBER = "0800123456"
BASELINE_NUMBER = "0800000099"
FLOOR_NUMBER = "0800000098"


@dataclass(frozen=True)
class Phone:
    national: str
    e164: str
    code: str


@dataclass
class SipStep:
    system: str
    rate: float
    placed: int
    completed: int
    held_rate: float
    commit_ms: list[float]
    first_prompt_ms: list[float]
    #: What the commit time is made of (Stasis only, bench/ivr/breakdown.py).
    parts: str = ""

    @property
    def lost(self) -> int:
        return self.placed - self.completed


def _ts(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def _held(starts: list[float]) -> float:
    """Calls per second Asterisk received, over the calls that were recorded."""
    if len(starts) < 2:
        return 0.0
    starts = sorted(starts)
    span = starts[-1] - starts[0]
    return (len(starts) - 1) / span if span > 0 else 0.0


class SipBench:
    """Rising rates over SIP, into both systems, on one Asterisk."""

    def __init__(
        self,
        phones: list[Phone],
        factory: sessionmaker[Session],
        metrics: Path,
        baseline_spool: Path,
        work: Path,
        sip_port: int,
        ports: Iterator[int],
    ) -> None:
        self.phones = itertools.cycle(phones)
        self.count = len(phones)
        self.factory = factory
        self.metrics = metrics
        self.baseline_spool = baseline_spool
        self.work = work
        self.sip_port = sip_port
        self.ports = ports

    def _place(self, name: str, service: str, rate: float, seconds: float) -> list[Phone]:
        total = max(2, int(rate * seconds))
        if total > self.count:
            raise SystemExit(f"{total} calls asked but only {self.count} callers: raise --pairs")
        phones = [next(self.phones) for _ in range(total)]
        run = start_sipp(
            self.work / name,
            [PhoneCall(p.national, (p.code + "#",)) for p in phones],
            sip_port=self.sip_port,
            local_port=next(self.ports),
            media_port=next(self.ports),
            rate=rate,
            # One round: a call without the IVR's goodbye 20 s after its keys failed.
            wait_ms=(20000, 1, 1),
            service=service,
        )
        run.process.wait(seconds + 120)
        return phones

    def _wait(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.5)

    def stasis(self, rate: float, seconds: float) -> SipStep:
        name = f"stasis-{rate:g}"
        phones = self._place(name, STASIS_NUMBER, rate, seconds)
        wanted = {p.e164: p for p in phones}
        found: dict[str, CallEvent] = {}

        def all_in() -> bool:
            nonlocal found
            with self.factory() as session:
                rows = session.scalars(
                    select(CallEvent).where(CallEvent.caller_e164.in_(list(wanted)))
                )
                found = {e.caller_e164: e for e in rows if e.caller_e164}
            return len(found) == len(wanted)

        self._wait(all_in)
        right = {
            number: event
            for number, event in found.items()
            if event.outcome is CallOutcome.RECORDED and event.digits == wanted[number].code
        }
        channels = {e.channel_id for e in right.values()}
        lines = [json.loads(x) for x in self.metrics.read_text().splitlines()]
        ours = [m for m in lines if m["channel"] in channels]
        commit = [
            (_ts(m["committed"]) - _ts(m["code_completed"])) * 1000  # type: ignore[operator]
            for m in ours
            if m["committed"] and m["code_completed"]
        ]
        first = [
            (_ts(m["first_prompt"]) - _ts(m["received"])) * 1000  # type: ignore[operator]
            for m in ours
            if m["first_prompt"] and m["received"]
        ]
        starts = [e.received_at.timestamp() for e in right.values()]
        return SipStep(
            "stasis", rate, len(phones), len(right), _held(starts), commit, first,
            breakdown.describe(ours),
        )  # fmt: skip

    def baseline(self, rate: float, seconds: float, system: str = "dialplan") -> SipStep:
        """The dialplan-only IVR, or (``system="floor"``) the same after a hop through
        a Stasis application that does nothing (bench/ivr/floor.py)."""
        name = f"{system}-{rate:g}"
        number = FLOOR_NUMBER if system == "floor" else BASELINE_NUMBER
        size = self.baseline_spool.stat().st_size if self.baseline_spool.exists() else 0
        phones = self._place(name, number, rate, seconds)
        wanted = {p.national: p for p in phones}
        rows: dict[str, list[str]] = {}

        def all_in() -> bool:
            nonlocal rows
            text = self.baseline_spool.read_bytes()[size:].decode(errors="replace")
            parts = (line.split("|") for line in text.splitlines())
            rows = {p[6]: p for p in parts if len(p) >= 7 and p[6] in wanted}
            return len(rows) == len(wanted)

        self._wait(all_in)
        right = [r for number, r in rows.items() if r[5] == wanted[number].code]
        return SipStep(
            system, rate, len(phones), len(right),
            _held([float(r[1]) for r in right]),
            [(float(r[4]) - float(r[3])) * 1000 for r in right],
            [(float(r[2]) - float(r[1])) * 1000 for r in right],
        )  # fmt: skip
