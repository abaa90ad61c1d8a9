"""A channel that replays ARI events recorded from the real Asterisk."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


def recorded(name: str) -> list[dict[str, Any]]:
    return list(json.loads((EVENTS / name).read_text()))


class RecordedChannel:
    """Feeds a recorded event stream; hands out the recorded playback ids in order.

    ``on_play`` runs at each play request (before its events are consumed), so a
    test can check what the ledger holds when a prompt starts.
    """

    def __init__(
        self,
        channel_id: str,
        events: Sequence[dict[str, Any]],
        on_play: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self.id = channel_id
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.actions: list[tuple[str, Any]] = []
        self._on_play = on_play
        self._playback_ids = [
            e["playback"]["id"]
            for e in events
            if e["type"] == "PlaybackStarted"
            and e["playback"]["id"]
            not in {
                x["playback"]["id"]
                for x in events[: events.index(e)]
                if x["type"] == "PlaybackStarted"
            }
        ]
        for event in events:
            if event["type"] != "StasisStart":
                self.events.put_nowait(event)

    async def answer(self) -> None:
        self.actions.append(("answer", None))

    async def hangup(self) -> None:
        self.actions.append(("hangup", None))

    async def play(self, media: Sequence[str], playback_id: str | None = None) -> str:
        self.actions.append(("play", list(media)))
        if self._on_play is not None:
            self._on_play(media)
        return self._playback_ids.pop(0) if self._playback_ids else (playback_id or "none")

    async def stop_playback(self, playback_id: str) -> None:
        self.actions.append(("stop", playback_id))


class ScriptedChannel(RecordedChannel):
    """A channel fed by hand: each prompt plays to its end at once (after queued events)."""

    def __init__(self, channel_id: str = "chan-1") -> None:
        super().__init__(channel_id, [])

    async def play(self, media: Sequence[str], playback_id: str | None = None) -> str:
        if self._playback_ids:
            return await super().play(media, playback_id)
        self.actions.append(("play", list(media)))
        playback = {"id": playback_id, "target_uri": f"channel:{self.id}"}
        self.events.put_nowait({"type": "PlaybackStarted", "playback": playback})
        self.events.put_nowait({"type": "PlaybackFinished", "playback": playback})
        return playback_id or "none"

    def key(self, digits: str) -> None:
        for digit in digits:
            self.events.put_nowait(
                {"type": "ChannelDtmfReceived", "digit": digit, "channel": {"id": self.id}}
            )
