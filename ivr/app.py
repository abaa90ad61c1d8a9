"""Composition root of ``telegestion ivr run``: builds everything and runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from ivr import health
from ivr.ari import AriClient, CallChannel, ChannelInfo, Event, parse_ari_time
from ivr.flow import Answer, Call, Flow, FlowConfig, Services, State, TakeBack
from ivr.services import GroupCommitter, Ledger, Recorder, replay
from ivr.settings import IvrSettings
from ivr.spool import Spool
from kernel.settings import core
from ledger.db import make_engine, make_session_factory
from ledger.timeutil import utc_now

logger = logging.getLogger(__name__)


class IvrService:
    def __init__(self, settings: IvrSettings, session_factory: sessionmaker[Session]) -> None:
        self.settings = settings
        spool_dir = settings.effective_spool_dir()
        self.spool = Spool(spool_dir / "ari.spool")
        self.dialplan_spool = Spool(settings.dialplan_spool)
        self.ledger = Ledger(session_factory)
        # Few reader threads: they share one GIL with the event loop, and more of
        # them only delayed the loop; commits have their own thread. (A process
        # of their own for the ledger's work was measured and not kept: 0105.)
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ivr-db")
        recorder = Recorder(self.ledger, self.spool)
        self.committer = GroupCommitter(recorder)
        self.services = Services(self.ledger, recorder, self.executor, committer=self.committer)
        self.config = FlowConfig(
            max_code_digits=settings.max_code_digits,
            attempts=settings.attempts,
            first_digit_timeout=settings.first_digit_timeout,
            inter_digit_timeout=settings.inter_digit_timeout,
        )
        self.client = AriClient(
            settings.ari_url,
            settings.ari_user,
            settings.ari_password(),
            settings.app,
            on_start=self.on_start,
            on_adopt=self.on_adopt,
        )

    # --- handlers (channel, event) -------------------------------------------

    async def on_start(self, channel: CallChannel, event: Event) -> None:
        args = [str(a) for a in event.get("args") or []]
        data = event.get("channel") or {}
        call = Call(
            channel=channel,
            received_at=parse_ari_time(data.get("creationtime")) or utc_now(),
            caller=args[0] if args else (data.get("caller") or {}).get("number"),
            ani=args[1] if len(args) > 1 and args[1] else None,
            called=args[2] if len(args) > 2 and args[2] else None,
        )
        await Flow(call, self.services, self.config, metrics=self.settings.metrics_path).run()

    async def on_adopt(self, channel: CallChannel, info: ChannelInfo) -> None:
        """A call found in our application at a (re)connection, without its StasisStart.

        Not answered yet: nobody has spoken to the caller, so it is a new call
        whose StasisStart we did not read, and it starts from the beginning.
        Answered: a previous run of the IVR was serving it; what the caller
        keyed while we were away is lost, so ``TakeBack`` says so and asks
        the code afresh (or says goodbye if the call was already recorded).
        Its answer time is taken as its creation time (we answer at once).
        """
        args = info.app_data.split(",")[1:]
        call = Call(
            channel=channel,
            received_at=info.created_at or utc_now(),
            caller=args[0] if args and args[0] else info.caller_number or None,
            ani=args[1] if len(args) > 1 and args[1] else None,
            called=args[2] if len(args) > 2 and args[2] else None,
        )
        start: State = Answer()
        if info.state == "Up":
            call.answered_at = info.created_at or utc_now()
            start = TakeBack()
        await Flow(
            call, self.services, self.config, metrics=self.settings.metrics_path, start=start
        ).run()

    # --- background work --------------------------------------------------------

    async def replay_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for spool, dialplan in ((self.spool, False), (self.dialplan_spool, True)):
                if spool.has_pending():
                    try:
                        await loop.run_in_executor(
                            self.executor, partial(replay, self.ledger, spool, dialplan=dialplan)
                        )
                    except Exception:
                        logger.exception("replay of %s failed", spool.path)
            await asyncio.sleep(self.settings.replay_interval)

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = None
        if self.settings.health_port:
            server = await health.serve(
                self.settings.health_port,
                lambda: health.check(self.settings, self.ledger, self.client),
            )
        tasks = [
            asyncio.create_task(self.client.run(), name="ari-events"),
            asyncio.create_task(self.replay_forever(), name="replayer"),
        ]
        logger.info(
            "IVR started (ARI %s, application %s)", self.settings.ari_url, self.settings.app
        )
        await stop.wait()
        logger.info("IVR stopping")
        # Calls in progress end (and are recorded) before the client closes.
        await self.client.drain(10)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if server is not None:
            server.close()
        await self.client.close()
        self.executor.shutdown(wait=True)
        self.committer.close()


def main(settings: IvrSettings) -> int:
    # The database threads hand the GIL back to the event loop after 1 ms
    # instead of 5: a loop kept waiting delays every call's prompts (0105).
    sys.setswitchinterval(0.001)
    engine = make_engine(core().effective_database_url)
    service = IvrService(settings, make_session_factory(engine))
    try:
        asyncio.run(service.run())
    finally:
        engine.dispose()
    return 0
