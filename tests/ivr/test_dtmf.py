"""The digit collector: terminator, maximum length, timers, type-ahead, hang-up."""

from __future__ import annotations

import asyncio

import pytest

from ivr.dtmf import CallHungUp, Prompter
from tests.ivr.replay import ScriptedChannel, recorded


def collect(prompter: Prompter, **kw: float) -> object:
    options = {"max_digits": 8, "first_timeout": 0.3, "inter_timeout": 0.2, **kw}
    return asyncio.run(prompter.collect(["sound:telegestion/code-request"], **options))  # type: ignore[arg-type]


def test_hash_ends_the_code_and_stops_the_prompt_at_the_first_digit() -> None:
    events = recorded("wrong_then_right_code.json")
    stream = [e for e in events if e["type"] != "StasisStart"]
    channel = ScriptedChannel("rec-2")
    for event in stream:
        channel.events.put_nowait(event)
    first_playback = next(e["playback"]["id"] for e in stream if e["type"] == "PlaybackStarted")
    channel._playback_ids = [first_playback]
    prompter = Prompter(channel)
    result = collect(prompter)
    assert result.digits == "9999"  # type: ignore[attr-defined]
    assert result.complete  # type: ignore[attr-defined]
    assert ("stop", first_playback) in channel.actions
    assert prompter.first_prompt_at is not None


def test_first_digit_timeout_gives_nothing() -> None:
    channel = ScriptedChannel()
    channel._playback_ids = ["pb"]
    channel.events.put_nowait({"type": "PlaybackFinished", "playback": {"id": "pb"}})
    result = collect(Prompter(channel))
    assert result.digits == ""  # type: ignore[attr-defined]
    assert not result.complete  # type: ignore[attr-defined]


def test_inter_digit_timeout_returns_what_was_keyed() -> None:
    channel = ScriptedChannel()
    channel._playback_ids = ["pb"]
    channel.key("12")
    result = collect(Prompter(channel))
    assert result.digits == "12"  # type: ignore[attr-defined]
    assert not result.complete  # type: ignore[attr-defined]


def test_maximum_length_ends_without_hash() -> None:
    channel = ScriptedChannel()
    channel._playback_ids = ["pb"]
    channel.key("123456")
    result = collect(Prompter(channel), max_digits=4)
    assert result.digits == "1234"  # type: ignore[attr-defined]
    assert result.complete  # type: ignore[attr-defined]


def test_type_ahead_is_kept_for_the_next_collection_and_skips_the_prompt() -> None:
    channel = ScriptedChannel()
    channel._playback_ids = ["confirmation"]
    channel.key("42#")
    channel.events.put_nowait({"type": "PlaybackFinished", "playback": {"id": "confirmation"}})
    prompter = Prompter(channel)
    asyncio.run(prompter.play(["sound:telegestion/goodbye"]))
    result = collect(prompter)
    assert result.digits == "42"  # type: ignore[attr-defined]
    assert [a for a in channel.actions if a[0] == "play"] == [
        ("play", ["sound:telegestion/goodbye"])
    ]


def test_hang_up_during_the_code_is_reported() -> None:
    channel = ScriptedChannel()
    channel._playback_ids = ["pb"]
    channel.key("12")
    channel.events.put_nowait({"type": "ChannelHangupRequest", "channel": {"id": channel.id}})
    with pytest.raises(CallHungUp):
        collect(Prompter(channel))
