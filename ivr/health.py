"""Whether Asterisk (AMI), ARI and the database are reachable."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from ivr import ami
from ivr.ari import AriClient
from ivr.services import Ledger
from ivr.settings import IvrSettings

logger = logging.getLogger(__name__)


async def check(settings: IvrSettings, ledger: Ledger, client: AriClient | None) -> dict[str, bool]:
    """One boolean per part; ``events`` is only there when this process runs the service."""
    loop = asyncio.get_running_loop()
    asterisk_ok = await loop.run_in_executor(
        None,
        ami.ping,
        settings.ami_host,
        settings.ami_port,
        settings.ari_user,
        settings.ari_password(),
    )
    database_ok = await loop.run_in_executor(None, ledger.ping)
    status = {"asterisk": asterisk_ok, "database": database_ok}
    if client is not None:
        status["ari"] = await client.ping()
        status["events"] = client.ready.is_set()
    else:
        probe = AriClient(
            settings.ari_url,
            settings.ari_user,
            settings.ari_password(),
            settings.app,
            on_start=_ignore,
        )
        try:
            status["ari"] = await probe.ping()
        finally:
            await probe.close()
    return status


async def _ignore(*_args: object) -> None:
    return None


async def serve(port: int, probe: Callable[[], Awaitable[dict[str, bool]]]) -> asyncio.Server:
    """A loopback HTTP endpoint: ``GET /health`` answers 200 when all parts are up, else 503."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = request.split(b" ")[1] if b" " in request else b"/"
            if path != b"/health":
                status, payload = "404 Not Found", b'{"error": "not found"}'
            else:
                result = await probe()
                status = "200 OK" if all(result.values()) else "503 Service Unavailable"
                payload = json.dumps(result).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)
