"""The real Asterisk (asterisk/provision) and the real IVR process, for end-to-end tests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr import ami
from ivr.ari import event_channel_id
from ledger.models import CallEvent

REPO = Path(__file__).resolve().parents[2]
PROVISION = REPO / "asterisk" / "provision"
STATE = Path(os.environ.get("TELEGESTION_ASTERISK_DIR", REPO / "var" / "asterisk"))
T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], timeout: float = 60.0, what: str = "") -> T:
    """Poll until ``condition`` returns something truthy (never sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.2)


@dataclass
class Asterisk:
    ari_url: str
    password: str
    ami_port: int
    sip_port: int
    dialplan_spool: Path

    def ari(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(
            method, self.ari_url + path, auth=("telegestion", self.password), timeout=10, **kw
        )

    def channels(self) -> list[dict[str, Any]]:
        response = self.ari("GET", "/channels")
        return list(response.json()) if response.status_code == 200 else []

    def hang_up_all(self) -> None:
        for channel in self.channels():
            self.ari("DELETE", f"/channels/{channel['id']}")
        wait_for(lambda: not self.channels() or None, 20, "no channel left")

    def provision(self, action: str) -> None:
        subprocess.run([str(PROVISION), action], check=True, timeout=900)

    def call(self, caller: str, keys: str, *, hold: int = 30, dtmf_ms: int = 80) -> str:
        """Place a Local-channel call; returns the IVR side's channel id."""
        token = uuid.uuid4().hex[:12]
        ivr_id = f"t-{token}"
        with ami.session("127.0.0.1", self.ami_port, "telegestion", self.password) as manager:
            ami.originate_test_call(
                manager,
                caller=caller,
                keys=keys,
                ivr_channel_id=ivr_id,
                phone_channel_id=f"p-{token}",
                hold=hold,
                dtmf_ms=dtmf_ms,
            )
        return ivr_id


@pytest.fixture(scope="session")
def asterisk() -> Iterator[Asterisk]:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("the real Asterisk needs root and debootstrap (scripts/test installs it)")
    was_running = subprocess.run([str(PROVISION), "status"], capture_output=True).returncode == 0
    subprocess.run([str(PROVISION), "start"], check=True, timeout=900)
    password = os.environ.get("TELEGESTION_IVR_ARI_PASSWORD") or (
        (STATE / "ari-password").read_text().strip()
    )
    spool_dir = Path(os.environ.get("TELEGESTION_ASTERISK_SPOOL", STATE / "spool"))
    handle = Asterisk(
        ari_url=f"http://127.0.0.1:{os.environ.get('TELEGESTION_ASTERISK_HTTP_PORT', '8088')}/ari",
        password=password,
        ami_port=int(os.environ.get("TELEGESTION_ASTERISK_AMI_PORT", "5038")),
        sip_port=int(os.environ.get("TELEGESTION_ASTERISK_SIP_PORT", "5060")),
        dialplan_spool=spool_dir / "dialplan.spool",
    )
    yield handle
    if not was_running:
        subprocess.run([str(PROVISION), "stop"], check=False, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class IvrProcess:
    """``telegestion ivr run`` as its own process, on the test's database."""

    def __init__(self, asterisk: Asterisk, database_url: str, workdir: Path) -> None:
        self.asterisk = asterisk
        self.workdir = workdir
        self.health_port = free_port()
        self.env = {
            **os.environ,
            "TELEGESTION_CORE_DATA_DIR": str(workdir),
            "TELEGESTION_CORE_DATABASE_URL": database_url,
            "TELEGESTION_IVR_ARI_URL": asterisk.ari_url,
            "TELEGESTION_IVR_ARI_PASSWORD": asterisk.password,
            "TELEGESTION_IVR_AMI_PORT": str(asterisk.ami_port),
            "TELEGESTION_IVR_SPOOL_DIR": str(workdir / "ivr"),
            "TELEGESTION_IVR_DIALPLAN_SPOOL": str(asterisk.dialplan_spool),
            "TELEGESTION_IVR_HEALTH_PORT": str(self.health_port),
            "TELEGESTION_IVR_FIRST_DIGIT_TIMEOUT": "4",
            "TELEGESTION_IVR_INTER_DIGIT_TIMEOUT": "3",
            "TELEGESTION_IVR_REPLAY_INTERVAL": "0.5",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "ivr.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "config.cli", "-v", "ivr", "run"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # A readiness wait, not a measure: a loaded machine (CI) has taken over 30 s.
        wait_for(self.events_connected, 90, "the IVR connected to ARI")

    def health(self) -> dict[str, bool] | None:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.health_port}/health", timeout=5)
        except httpx.HTTPError:
            return None
        return dict(response.json())

    def events_connected(self) -> bool:
        status = self.health()
        return bool(status and status.get("events"))

    def events(self, channel_id: str, *kinds: str) -> list[dict[str, Any]]:
        """ARI events of one channel as this IVR received them (its debug log)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            _, marker, payload = line.partition(" ivr.ari: event ")
            if not marker or channel_id not in payload:
                continue
            event = json.loads(payload)
            if event.get("type") in kinds and event_channel_id(event) == channel_id:
                out.append(event)
        return out

    def media_played(self, channel_id: str) -> list[str]:
        """Every sound Asterisk started playing on a channel, in order (Asterisk raises
        PlaybackStarted for each sound of a playback's list)."""
        return [
            str(event["playback"]["media_uri"])
            for event in self.events(channel_id, "PlaybackStarted")
        ]

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def ivr(
    asterisk: Asterisk, database_url: str, engine: Any, org: Any, tmp_path: Path
) -> Iterator[IvrProcess]:
    asterisk.hang_up_all()
    # Start reading the shared dialplan spool from its end: older lines belong to other runs.
    spool = asterisk.dialplan_spool
    spool.parent.mkdir(parents=True, exist_ok=True)
    size = spool.stat().st_size if spool.exists() else 0
    spool.with_name(spool.name + ".offset").write_text(str(size))
    process = IvrProcess(asterisk, database_url, tmp_path)
    process.start()
    yield process
    process.stop()
    asterisk.hang_up_all()


def call_event(factory: sessionmaker[Session], channel_id: str) -> CallEvent | None:
    with factory() as session:
        return session.scalars(select(CallEvent).where(CallEvent.channel_id == channel_id)).first()


def wait_event(factory: sessionmaker[Session], channel_id: str, timeout: float = 90) -> CallEvent:
    return wait_for(lambda: call_event(factory, channel_id), timeout, f"call event {channel_id}")
