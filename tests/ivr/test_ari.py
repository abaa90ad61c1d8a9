"""The ARI client's routing of events: one flow per channel, no event twice."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ivr.ari import AriClient, CallChannel, ChannelInfo


def client(started: list[str], adopted: list[str] | None = None) -> AriClient:
    async def on_start(channel: CallChannel, event: dict[str, Any]) -> None:
        started.append(channel.id)
        await asyncio.sleep(0)

    async def on_adopt(channel: CallChannel, info: ChannelInfo) -> None:
        (adopted if adopted is not None else started).append(channel.id)

    return AriClient("http://127.0.0.1:1/ari", "u", "p", "telegestion", on_start=on_start,
                     on_adopt=on_adopt)  # fmt: skip


def dtmf(channel: str, digit: str, at: str) -> dict[str, Any]:
    return {"type": "ChannelDtmfReceived", "timestamp": at, "digit": digit, "duration_ms": 100,
            "channel": {"id": channel}, "application": "telegestion"}  # fmt: skip


def test_an_event_delivered_twice_is_read_once() -> None:
    async def scenario() -> list[str]:
        ivr = client([])
        ivr.dispatch({"type": "StasisStart", "channel": {"id": "c1"}, "args": []})
        first = dtmf("c1", "3", "2026-12-01T10:00:00.100+0000")
        again = dtmf("c1", "3", "2026-12-01T10:00:00.400+0000")  # the key pressed again
        for event in (first, first, again, again):
            ivr.dispatch(event, json.dumps(event))
        queue = ivr.channels["c1"].events
        digits = []
        while not queue.empty():
            event = queue.get_nowait()
            if event["type"] == "ChannelDtmfReceived":
                digits.append(event["digit"])
        assert ivr.stats["duplicates"] == 2
        await ivr.close()
        return digits

    assert asyncio.run(scenario()) == ["3", "3"]


def test_a_repeated_stasis_start_starts_one_flow_even_after_the_call_ended() -> None:
    async def scenario() -> list[str]:
        started: list[str] = []
        ivr = client(started)
        start = {"type": "StasisStart", "channel": {"id": "c2"}, "args": []}
        ivr.dispatch(start, json.dumps(start))
        ivr.dispatch(start, json.dumps(start))
        await ivr.drain(1)
        assert "c2" not in ivr.channels
        ivr.dispatch(start, json.dumps(start))  # late, after the end of the call
        await ivr.drain(1)
        assert ivr.stats["late"] == 1
        await ivr.close()
        return started

    assert asyncio.run(scenario()) == ["c2"]
