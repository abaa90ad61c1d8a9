"""The call flow as explicit states: each state's ``run`` returns the next state.

Answer -> Identify -> AskCode -> (ChooseBeneficiary) -> (ChooseDirection) -> Record
-> Confirm -> end. ChooseBeneficiary only for a number shared by several
beneficiaries; from the code on, prompts are in the worker's language.
A call taken back after a reconnect starts at TakeBack -> Identify -> AskCode,
told first that the service was interrupted and that it must start again.
A hang-up at any step ends in ``record_incomplete`` with what was known. When
the database cannot be reached the flow goes on without it (``offline``):
it still collects the code, spools what it has and confirms.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ivr.dtmf import CallHungUp, Collected, Prompter
from ivr.prompts import sound, time_media
from ivr.services import (
    CommitFuture,
    DatabaseUnavailable,
    KnownWorker,
    Ledger,
    Progress,
    RawCall,
    Recorder,
    candidates_text,
    identification,
)
from ivr.sharing import Option, Pick
from ledger.models import CallOutcome, CallSource
from ledger.pairing import Direction, Inference
from ledger.phones import masked, normalise
from ledger.service import CallRecord, RecordedCall
from ledger.timeutil import utc_now

logger = logging.getLogger(__name__)


def choice_media(options: tuple[Option, ...], language: str) -> list[str]:
    """The keypad choice between the people of one phone, no name spoken."""
    media = [sound("choice-intro", language)]
    for key, option in enumerate(options, start=1):
        if option.kind == "planned" and option.planned_at is not None:
            media += [sound("choice-planned", language), *time_media(option.planned_at, language)]
            media.append(sound("press", language))
        else:
            media.append(sound(f"choice-{option.kind}", language))
        media.append(sound(f"n-{key}", language))
    return media


@dataclass(frozen=True)
class FlowConfig:
    max_code_digits: int = 8
    attempts: int = 3
    first_digit_timeout: float = 8.0
    inter_digit_timeout: float = 4.0


class Channel(Protocol):
    id: str
    events: asyncio.Queue[dict[str, Any]]

    async def answer(self) -> None: ...

    async def hangup(self) -> None: ...

    async def play(self, media: Any, playback_id: str | None = None) -> str: ...

    async def stop_playback(self, playback_id: str) -> None: ...


@dataclass
class Call:
    """What is known about one call so far."""

    channel: Channel
    received_at: datetime
    caller: str | None
    ani: str | None
    called: str | None
    started_at: datetime = field(default_factory=utc_now)
    answered_at: datetime | None = None
    beneficiary_id: int | None = None
    #: Every beneficiary the calling number belongs to (several: a couple on one phone).
    candidates: tuple[int, ...] = ()
    #: The worker's language, once the code is recognised.
    language: str = "fr"
    offline: bool = False
    attempts: list[str] = field(default_factory=list)
    code_completed_at: datetime | None = None
    worker_id: int | None = None
    #: The direction read with the worker's code (when the beneficiary was known).
    inferred: Inference | None = None
    direction: Direction | None = None
    recorded: bool = False
    #: When the worker's code was checked, the commit asked, taken by the committer
    #: and written (the parts of the time from the code to the commit, for the metrics).
    code_checked_at: datetime | None = None
    commit_asked_at: datetime | None = None
    commit_taken_at: float | None = None
    commit_written_at: float | None = None
    committed_at: datetime | None = None
    spooled: bool = False
    #: Taken back after a reconnect: the caller is asked to start again.
    taken_back: bool = False

    @property
    def digits(self) -> str | None:
        return ",".join(self.attempts) if self.attempts else None


class Committer(Protocol):
    def submit(self, item: CallRecord | RawCall) -> CommitFuture: ...


class Services:
    """The ledger's reads and commits, awaited from the event loop.

    Reads (who calls, whose code, which direction) run in ``executor``;
    commits in ``committer``, one thread of its own that groups the events
    waiting into one commit (decision 0105), or in ``executor`` too without a
    committer (unit tests).
    """

    def __init__(
        self,
        ledger: Ledger,
        recorder: Recorder,
        executor: Executor | None,
        committer: Committer | None = None,
    ) -> None:
        self.ledger = ledger
        self.recorder = recorder
        self.executor = executor
        self.committer = committer

    async def _read(self, name: str, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, getattr(self.ledger, name), *args
        )

    async def is_recorded(self, channel_id: str) -> bool:
        result: bool = await self._read("is_recorded", channel_id)
        return result

    async def candidates_for(
        self, caller: str | None, ani: str | None, at: datetime
    ) -> tuple[int, ...]:
        result: tuple[int, ...] = await self._read("candidates_for", caller, ani, at)
        return result

    async def worker_for(
        self, code: str, at: datetime, beneficiary_id: int | None
    ) -> KnownWorker | None:
        result: KnownWorker | None = await self._read("worker_for", code, at, beneficiary_id)
        return result

    async def pick(self, worker_id: int, candidates: tuple[int, ...], at: datetime) -> Pick:
        result: Pick = await self._read("pick", worker_id, candidates, at)
        return result

    async def direction(self, worker_id: int, beneficiary_id: int, at: datetime) -> Inference:
        result: Inference = await self._read("direction", worker_id, beneficiary_id, at)
        return result

    async def commit(self, item: CallRecord | RawCall) -> RecordedCall | None:
        """The event committed (or spooled, None); returns only once it is durable."""
        result, _, _ = await self.commit_timed(item)
        return result

    async def commit_timed(
        self, item: CallRecord | RawCall
    ) -> tuple[RecordedCall | None, float | None, float | None]:
        """``commit``, with when the committer took the event and when its commit
        returned (epoch seconds; None without a committer), for the metrics."""
        if self.committer is None:
            result = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.recorder.record, item
            )
            return result, None, None
        future = self.committer.submit(item)
        outcome = await asyncio.wrap_future(future)
        assert not isinstance(outcome, Exception)
        return outcome, future.taken_at, future.written_at


class State:
    async def run(self, call: Call, flow: Flow) -> State | None:
        raise NotImplementedError


class Answer(State):
    async def run(self, call: Call, flow: Flow) -> State | None:
        await call.channel.answer()
        call.answered_at = utc_now()
        return Identify()


class TakeBack(State):
    """A call a previous run of the IVR was serving when it stopped."""

    async def run(self, call: Call, flow: Flow) -> State | None:
        try:
            recorded = await flow.services.is_recorded(call.channel.id)
        except DatabaseUnavailable:
            recorded = False
        if recorded:
            # Committed just before the stop: its confirmation may have been cut.
            call.recorded = True
            await flow.prompter.play([sound("degraded-recorded"), sound("goodbye")])
            return None
        call.taken_back = True
        return Identify()


class Identify(State):
    """Looks the calling number up while the welcome plays: the greeting does not
    depend on who calls, so it waits for no database read (``flow.identified``
    is awaited once the code is keyed, and before anything is recorded)."""

    async def run(self, call: Call, flow: Flow) -> State | None:
        flow.identifying = asyncio.ensure_future(self.lookup(call, flow))
        return AskCode()

    @staticmethod
    async def lookup(call: Call, flow: Flow) -> None:
        assert call.answered_at is not None
        try:
            call.candidates = await flow.services.candidates_for(
                call.caller, call.ani, call.answered_at
            )
        except DatabaseUnavailable as exc:
            logger.warning(
                "call %s: ledger unavailable (%s), going on offline", call.channel.id, exc
            )
            call.offline = True
        if len(call.candidates) == 1:
            call.beneficiary_id = call.candidates[0]
        logger.info(
            "call %s from %s: beneficiary %s",
            call.channel.id,
            masked(normalise(call.caller)),
            call.beneficiary_id
            if call.beneficiary_id is not None
            else f"one of {len(call.candidates)}"
            if call.candidates
            else "not identified",
        )


class AskCode(State):
    async def run(self, call: Call, flow: Flow) -> State | None:
        assert call.answered_at is not None
        config = flow.config
        first = sound("interrupted") if call.taken_back else sound("welcome")
        prompt = [first, sound("code-request")]
        for attempt in range(1, config.attempts + 1):
            collected = await flow.collect(prompt)
            prompt = [sound("code-request")]
            if not collected.digits:
                continue
            call.attempts.append(collected.digits)
            call.code_completed_at = collected.completed_at
            await flow.identified()
            if call.offline:
                return Record()
            try:
                worker = await flow.services.worker_for(
                    collected.digits,
                    call.answered_at,
                    call.beneficiary_id,
                )
            except DatabaseUnavailable:
                call.offline = True
                return Record()
            call.code_checked_at = utc_now()
            if worker is not None:
                call.worker_id = worker.id
                call.language = worker.language
                call.inferred = worker.inferred
                if call.beneficiary_id is None and len(call.candidates) > 1:
                    return ChooseBeneficiary()
                return ChooseDirection()
            logger.info("call %s: wrong code (attempt %d)", call.channel.id, attempt)
            if attempt < config.attempts:
                prompt = [sound("code-wrong"), sound("code-retry"), sound("code-request")]
        return TooManyAttempts()


class ChooseBeneficiary(State):
    """A number shared by several beneficiaries: the worker's plan, else the keypad."""

    async def run(self, call: Call, flow: Flow) -> State | None:
        assert call.worker_id is not None and call.answered_at is not None
        try:
            pick = await flow.services.pick(call.worker_id, call.candidates, call.answered_at)
        except DatabaseUnavailable:
            call.offline = True
            return Record()
        if pick.beneficiary_id is not None:
            logger.info("call %s: shared number, decided by the %s", call.channel.id, pick.reason)
            call.beneficiary_id = pick.beneficiary_id
            return ChooseDirection()
        if pick.options:
            media = choice_media(pick.options, call.language)
            for _ in range(flow.config.attempts):
                collected = await flow.collect(media, max_digits=1)
                key = int(collected.digits) if collected.digits.isdigit() else 0
                if 1 <= key <= len(pick.options):
                    logger.info("call %s: shared number, chosen on the keypad", call.channel.id)
                    call.beneficiary_id = pick.options[key - 1].beneficiary_id
                    return ChooseDirection()
        # Nothing decided: recorded with its candidates, for a manager.
        logger.info("call %s: shared number, left to a manager", call.channel.id)
        return ChooseDirection()


class ChooseDirection(State):
    async def run(self, call: Call, flow: Flow) -> State | None:
        assert call.worker_id is not None and call.answered_at is not None
        if call.beneficiary_id is not None:
            inferred = call.inferred
            try:
                if inferred is None:
                    inferred = await flow.services.direction(
                        call.worker_id,
                        call.beneficiary_id,
                        call.answered_at,
                    )
            except DatabaseUnavailable:
                call.offline = True
                return Record()
            if inferred is not Inference.ASK:
                call.direction = Direction(inferred.value)
                return Record()
        for _ in range(flow.config.attempts):
            collected = await flow.collect(
                [sound("direction-request", call.language)], max_digits=1
            )
            if collected.digits == "1":
                call.direction = Direction.ARRIVAL
                return Record()
            if collected.digits == "2":
                call.direction = Direction.DEPARTURE
                return Record()
        # No answer: the call is recorded without a direction, for a manager.
        return Record()


class Record(State):
    async def run(self, call: Call, flow: Flow) -> State | None:
        await flow.record(call, CallOutcome.RECORDED, Progress.CONFIRMED)
        return Confirm()


class Confirm(State):
    async def run(self, call: Call, flow: Flow) -> State | None:
        assert call.answered_at is not None
        language = call.language
        if call.offline or call.beneficiary_id is None or call.direction is None:
            media = [sound("degraded-recorded", language)]
        elif call.direction is Direction.ARRIVAL:
            media = [sound("arrival-recorded", language), *time_media(call.answered_at, language)]
        else:
            media = [
                sound("departure-recorded", language),
                *time_media(call.answered_at, language),
            ]
        await flow.prompter.play([*media, sound("goodbye", language)])
        return None


class TooManyAttempts(State):
    async def run(self, call: Call, flow: Flow) -> State | None:
        await flow.record(call, CallOutcome.TOO_MANY_ATTEMPTS, Progress.NO_CODE)
        await flow.prompter.play([sound("too-many-attempts"), sound("goodbye")])
        return None


class Flow:
    """Runs one call from StasisStart (or adoption after a reconnect) to its end."""

    def __init__(
        self,
        call: Call,
        services: Services,
        config: FlowConfig,
        *,
        metrics: Path | None = None,
        start: State | None = None,
    ) -> None:
        self.call = call
        self.services = services
        self.config = config
        self.prompter = Prompter(call.channel)
        self.metrics = metrics
        self.start = start or Answer()
        #: The caller's identification, running beside the first prompt.
        self.identifying: asyncio.Future[None] | None = None

    async def identified(self) -> None:
        """Wait for the identification started by ``Identify`` (if any)."""
        if self.identifying is None:
            return
        try:
            await asyncio.shield(self.identifying)
        except Exception:
            # Whatever failed, the call goes on as without a database: spooled raw.
            logger.exception("call %s: identification failed", self.call.channel.id)
            self.call.offline = True
        self.identifying = None

    async def collect(self, media: list[str], max_digits: int | None = None) -> Collected:
        try:
            return await self.prompter.collect(
                media,
                max_digits=max_digits or self.config.max_code_digits,
                first_timeout=self.config.first_digit_timeout,
                inter_timeout=self.config.inter_digit_timeout,
            )
        except CallHungUp:
            if max_digits is None and self.prompter.partial:
                # Hung up in the middle of a code: keep what was keyed.
                self.call.attempts.append(self.prompter.partial)
            raise

    async def run(self) -> None:
        call = self.call
        state: State | None = self.start
        try:
            while state is not None:
                state = await state.run(call, self)
        except CallHungUp:
            logger.info("call %s: caller hung up", call.channel.id)
        finally:
            if not call.recorded and call.answered_at is not None:
                await self.record_incomplete()
            await call.channel.hangup()
            self._write_metrics()

    async def record_incomplete(self) -> None:
        call = self.call
        if call.worker_id is not None and call.direction is None:
            outcome, progress = CallOutcome.HANGUP_BEFORE_DIRECTION, Progress.CONFIRMED
        elif call.attempts:
            outcome, progress = CallOutcome.HANGUP_DURING_CODE, Progress.DURING_CODE
        else:
            outcome, progress = CallOutcome.HANGUP_BEFORE_CODE, Progress.BEFORE_CODE
        await self.record(call, outcome, progress)

    async def record(self, call: Call, outcome: CallOutcome, progress: str) -> None:
        """Commit (or spool) the call event; only then may the confirmation play."""
        assert call.answered_at is not None
        await self.identified()
        item: CallRecord | RawCall
        if call.offline:
            item = RawCall(
                channel_id=call.channel.id,
                received_at=call.received_at,
                answered_at=call.answered_at,
                caller_raw=call.caller,
                ani_raw=call.ani,
                called_number=call.called,
                digits=call.digits,
                code_completed_at=call.code_completed_at,
                progress=progress,
                source=CallSource.ARI,
            )
        else:
            item = CallRecord(
                channel_id=call.channel.id,
                received_at=call.received_at,
                answered_at=call.answered_at,
                caller_raw=call.caller,
                ani_raw=call.ani,
                called_number=call.called,
                digits=call.digits,
                code_completed_at=call.code_completed_at,
                beneficiary_id=call.beneficiary_id,
                worker_id=call.worker_id,
                identification=identification(
                    call.caller, call.beneficiary_id, call.digits, call.worker_id
                ),
                direction=call.direction,
                outcome=outcome,
                source=CallSource.ARI,
                candidate_ids=candidates_text(call.candidates, call.beneficiary_id),
            )
        call.commit_asked_at = utc_now()
        result, call.commit_taken_at, call.commit_written_at = await self.services.commit_timed(
            item
        )
        call.recorded = True
        call.spooled = result is None
        call.committed_at = utc_now()
        logger.info(
            "call %s %s: %s%s",
            call.channel.id,
            "spooled" if call.spooled else "recorded",
            outcome.value,
            f" ({call.direction.value})" if call.direction else "",
        )

    def _write_metrics(self) -> None:
        if self.metrics is None:
            return
        call = self.call

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        line = {
            "channel": call.channel.id,
            "received": iso(call.received_at),
            "started": iso(call.started_at),
            "first_prompt": iso(self.prompter.first_prompt_at),
            "code_completed": iso(call.code_completed_at),
            "code_checked": iso(call.code_checked_at),
            "commit_asked": iso(call.commit_asked_at),
            "commit_taken": call.commit_taken_at,
            "commit_written": call.commit_written_at,
            "committed": iso(call.committed_at),
            "spooled": call.spooled,
        }
        with self.metrics.open("a") as handle:
            handle.write(json.dumps(line) + "\n")
