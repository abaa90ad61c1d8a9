"""A thin typed ARI client: aiohttp for requests, ``websockets`` for events.

One reader task receives every event and puts it, in order, on the queue of
the channel it concerns; one coroutine per call consumes that queue. Ids of
channels and playbacks are chosen by us, because an event can arrive before
the HTTP answer that created the object. A 404 or 409 means the call is gone.
The event websocket reconnects by itself; after each (re)connection the client
reconciles: the calls still in our Stasis application get no new StasisStart,
so they are handed back to the application through ``on_adopt``.

What keeps a call's events exact across reconnects (decision 0104):

- one connection at a time, read by one task; events are read from the first
  moment of a connection, while the reconcile runs beside them, so a call that
  enters the application during the reconcile is either started by its
  StasisStart or adopted from the channel list, never both (one flow per
  channel id, whichever comes first);
- an event delivered twice (the same JSON text for the same channel) is
  dropped: Asterisk stamps every event with the millisecond it was raised,
  so two real key presses never read the same;
- events of a call that has ended are dropped, so a late or repeated
  StasisStart cannot start a second flow for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import websockets

logger = logging.getLogger(__name__)

Event = dict[str, Any]
#: ``request`` takes a ``json`` argument, as aiohttp does.
_loads = json.loads


class AriError(Exception):
    """ARI answered with an unexpected status."""


class CallGone(AriError):
    """The channel or playback no longer exists (404) or is not in our application (409)."""


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: str
    state: str
    caller_number: str
    created_at: datetime | None
    app_name: str
    app_data: str

    @classmethod
    def from_json(cls, data: Event) -> ChannelInfo:
        dialplan = data.get("dialplan") or {}
        return cls(
            id=data["id"],
            state=data.get("state", ""),
            caller_number=(data.get("caller") or {}).get("number", ""),
            created_at=parse_ari_time(data.get("creationtime")),
            app_name=dialplan.get("app_name", ""),
            app_data=dialplan.get("app_data", ""),
        )


def parse_ari_time(text: str | None) -> datetime | None:
    """ARI's times look like 2026-11-23T15:08:57.390+0000."""
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    except ValueError:
        return None


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def event_channel_id(event: Event) -> str | None:
    """The channel an event concerns, if any (playbacks name it in target_uri)."""
    channel = event.get("channel")
    if isinstance(channel, dict) and "id" in channel:
        return str(channel["id"])
    playback = event.get("playback")
    if isinstance(playback, dict):
        target = str(playback.get("target_uri", ""))
        if target.startswith("channel:"):
            return target.removeprefix("channel:")
    return None


#: Keep-alive HTTP connections to ARI at most: a request on loopback takes
#: well under a millisecond, and Asterisk serves 100 HTTP sessions by default.
HTTP_CONNECTIONS = 32

#: The only events the flow reads (ivr/dtmf.py, ``dispatch``): Asterisk is asked to
#: send no other (ChannelVarset, ChannelStateChange, PlaybackContinuing...), which
#: spares it and us encoding, sending and decoding them.
WANTED_EVENTS = (
    "StasisStart",
    "StasisEnd",
    "ChannelHangupRequest",
    "ChannelDestroyed",
    "ChannelDtmfReceived",
    "PlaybackStarted",
    "PlaybackFinished",
)

#: How many of a channel's latest events are remembered to drop repeats.
RECENT_EVENTS = 64
#: How many ended calls are remembered to drop their late events.
ENDED_CALLS = 4096


@dataclass
class CallChannel:
    """One call's channel: its ordered event queue and the client to act on it."""

    id: str
    client: AriClient
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    _recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))

    def offer(self, event: Event, raw: str | None) -> bool:
        """Queue an event unless the very same one was already queued."""
        if raw is not None:
            if raw in self._recent:
                return False
            self._recent.append(raw)
        self.events.put_nowait(event)
        return True

    async def answer(self) -> None:
        await self.client.request("POST", f"/channels/{self.id}/answer")

    async def hangup(self) -> None:
        with contextlib.suppress(CallGone):
            await self.client.request("DELETE", f"/channels/{self.id}")

    async def play(self, media: Sequence[str], playback_id: str | None = None) -> str:
        playback_id = playback_id or new_id("pb")
        await self.client.request(
            "POST",
            f"/channels/{self.id}/play/{playback_id}",
            params={"media": ",".join(media), "lang": "fr"},
        )
        return playback_id

    async def stop_playback(self, playback_id: str) -> None:
        with contextlib.suppress(CallGone):
            await self.client.request("DELETE", f"/playbacks/{playback_id}")

    async def variable(self, name: str) -> str | None:
        try:
            data = await self.client.request(
                "GET", f"/channels/{self.id}/variable", params={"variable": name}
            )
        except CallGone:
            raise
        except AriError:
            return None
        value = data.get("value") if isinstance(data, dict) else None
        return str(value) if value is not None else None


StartHandler = Callable[[CallChannel, Event], Awaitable[None]]
AdoptHandler = Callable[[CallChannel, ChannelInfo], Awaitable[None]]


class AriClient:
    """Owns the HTTP client, the event websocket, reconnection and readiness."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        on_start: StartHandler,
        on_adopt: AdoptHandler | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        self._auth = (user, password)
        self._on_start = on_start
        self._on_adopt = on_adopt
        # Made on first use: an aiohttp session belongs to the running event loop.
        self._http: aiohttp.ClientSession | None = None
        self.channels: dict[str, CallChannel] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        #: True while the event websocket is connected and reconciled.
        self.ready = asyncio.Event()
        #: Counters for the health endpoint and the tests.
        self.stats = {"connections": 0, "adopted": 0, "duplicates": 0, "late": 0}

    # --- HTTP ------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        """One session, kept-alive connections (the profile of decision 0105: httpx's
        pool cost more CPU than the calls themselves at 30 calls a second)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                auth=aiohttp.BasicAuth(*self._auth),
                timeout=aiohttp.ClientTimeout(total=10.0),
                connector=aiohttp.TCPConnector(limit=HTTP_CONNECTIONS, keepalive_timeout=10.0),
            )
        return self._http

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        try:
            async with self._session().request(
                method, self.base_url + path, params=params, json=json
            ) as response:
                status = response.status
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriError(f"{method} {path}: {exc!r}") from exc
        if status in (404, 409, 422) and "/channels/" in path:
            raise CallGone(f"{method} {path}: {status}")
        if status in (404, 409) and "/playbacks/" in path:
            raise CallGone(f"{method} {path}: {status}")
        if status >= 400:
            raise AriError(f"{method} {path}: {status} {body[:200].decode(errors='replace')}")
        if not body:
            return None
        return _loads(body)

    async def ping(self) -> bool:
        try:
            await self.request("GET", "/asterisk/ping")
        except AriError:
            return False
        return True

    async def list_channels(self) -> list[ChannelInfo]:
        data = await self.request("GET", "/channels")
        return [ChannelInfo.from_json(item) for item in data or []]

    async def originate_local(
        self,
        extension_context: str,
        phone_context: str,
        *,
        caller: str,
        channel_id: str,
        other_channel_id: str,
        variables: dict[str, str],
        timeout: int = 30,
    ) -> None:
        """A Local channel: the half named ``other_channel_id`` runs the IVR dialplan."""
        await self.request(
            "POST",
            "/channels",
            params={
                "endpoint": f"Local/s@{extension_context}/n",
                "context": phone_context,
                "extension": "s",
                "priority": 1,
                "callerId": caller,
                "channelId": channel_id,
                "otherChannelId": other_channel_id,
                "timeout": timeout,
            },
            json={"variables": variables},
        )

    # --- events ----------------------------------------------------------

    def _ws_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urlencode(
            {
                "app": self.app,
                "api_key": f"{self._auth[0]}:{self._auth[1]}",
                "subscribeAll": "false",
            }
        )
        return urlunsplit((scheme, parts.netloc, parts.path + "/events", query, ""))

    async def run(self) -> None:
        """Receive events forever, reconnecting whenever the websocket drops.

        ``websockets.connect`` retries refused connections by itself but gives
        up on an HTTP error (Asterisk answers 404 while res_ari is still
        loading after a restart), so an outer loop starts it again.
        """
        delay = 0.5
        while True:
            try:
                await self._connect_forever()
            except (websockets.InvalidHandshake, OSError, TimeoutError) as exc:
                logger.warning("ARI not reachable (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _connect_forever(self) -> None:
        async for ws in websockets.connect(
            self._ws_url(), ping_interval=5, ping_timeout=10, open_timeout=5, max_size=2**22
        ):
            self.stats["connections"] += 1
            logger.info("ARI connected (%s)", self.app)
            # Events are read from now on while the reconcile runs: a call that
            # enters the application meanwhile is never missed nor doubled.
            reconcile = asyncio.create_task(self._reconcile(ws))
            try:
                async for message in ws:
                    text = message if isinstance(message, str) else message.decode()
                    logger.debug("event %s", text)
                    self.dispatch(json.loads(text), text)
            except websockets.ConnectionClosed:
                logger.warning("ARI websocket closed; reconnecting")
            finally:
                self.ready.clear()
                reconcile.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reconcile

    async def _filter_events(self) -> None:
        try:
            await self.request(
                "PUT",
                f"/applications/{self.app}/eventFilter",
                json={"allowed": [{"type": kind} for kind in WANTED_EVENTS]},
            )
        except AriError as exc:
            # Every event then comes, as before: slower, not wrong.
            logger.warning("ARI event filter refused (%s); receiving every event", exc)

    async def _reconcile(self, ws: Any) -> None:
        await self._filter_events()
        try:
            listed = await self.list_channels() if self._on_adopt is not None else []
        except AriError as exc:
            logger.warning("ARI reconcile failed (%s); reconnecting", exc)
            await ws.close()
            return
        for info in listed:
            if info.id in self.channels or info.id in self._ended:
                continue
            if info.app_name.lower() != "stasis" or info.app_data.split(",")[0] != self.app:
                continue
            assert self._on_adopt is not None
            logger.info("taking back call %s (%s) after reconnect", info.id, info.state)
            self.stats["adopted"] += 1
            channel = CallChannel(info.id, self)
            self.channels[info.id] = channel
            self._spawn(channel, self._on_adopt(channel, info))
        self.ready.set()

    def dispatch(self, event: Event, raw: str | None = None) -> None:
        """Route one event to its channel's queue, in arrival order (no await here)."""
        kind = event.get("type")
        channel_id = event_channel_id(event)
        if channel_id is None:
            return
        existing = self.channels.get(channel_id)
        if existing is None:
            if channel_id in self._ended:
                self.stats["late"] += 1
                return
            if kind == "StasisStart":
                channel = CallChannel(channel_id, self)
                self.channels[channel_id] = channel
                channel.offer(event, raw)
                self._spawn(channel, self._on_start(channel, event))
            return
        if not existing.offer(event, raw):
            self.stats["duplicates"] += 1
            logger.warning("call %s: %s delivered twice, dropped", channel_id, kind)

    def _ended_call(self, channel_id: str) -> None:
        self.channels.pop(channel_id, None)
        self._ended[channel_id] = None
        while len(self._ended) > ENDED_CALLS:
            self._ended.popitem(last=False)

    def _spawn(self, channel: CallChannel, work: Awaitable[None]) -> None:
        async def _run() -> None:
            try:
                await work
            except Exception:
                logger.exception("call %s failed", channel.id)
            finally:
                self._ended_call(channel.id)

        task = asyncio.ensure_future(_run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Wait for the calls in progress (on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
