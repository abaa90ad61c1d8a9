"""The Stasis floor of ``bench/ivr --sip --floor``: an ARI application that does nothing.

Calls to the floor number enter Stasis (application ``telegestion-floor``),
which sends each channel straight back to the dialplan (``continue``); the
dialplan then runs the baseline IVR (asterisk/etc/extensions.conf). Against the
baseline alone, the difference is what entering and leaving Stasis costs
Asterisk (its CPU a call), with one request and the events of one channel:
the least any ARI application pays, before it plays or reads anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from urllib.parse import urlencode

import aiohttp
import websockets

APP = "telegestion-floor"


class FloorApp:
    """Runs in a thread of its own until ``stop``; ``ready`` once registered."""

    def __init__(self, ari: str, password: str) -> None:
        self.ari = ari
        self.password = password
        self.ready = threading.Event()
        self.continued = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="floor-app", daemon=True)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._thread.start()
        if not self.ready.wait(15):
            raise SystemExit("the floor application did not register with ARI")

    def take(self) -> int:
        """How many channels it sent back since the last ``take``."""
        count, self.continued = self.continued, 0
        return count

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._serve())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    async def _serve(self) -> None:
        query = urlencode({"app": APP, "api_key": f"telegestion:{self.password}"})
        url = self.ari.replace("http://", "ws://") + f"/events?{query}"
        auth = aiohttp.BasicAuth("telegestion", self.password)
        async with aiohttp.ClientSession(auth=auth) as http, websockets.connect(url) as socket:
            self.ready.set()
            async for raw in socket:
                event = json.loads(raw)
                if event.get("type") == "StasisStart":
                    channel = event["channel"]["id"]
                    async with http.post(f"{self.ari}/channels/{channel}/continue") as answer:
                        if answer.status < 300:
                            self.continued += 1
