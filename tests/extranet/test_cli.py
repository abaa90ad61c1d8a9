"""``telegestion users ...`` and ``telegestion extranet serve`` as an operator runs them."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from config.cli import main
from config.database import migrate
from extranet.models import LoginThrottle, Role, ThrottleScope, User
from extranet.passwords import verify
from extranet.settings import SECRET_KEY_ENV, SECRET_KEY_FILE, secret_key
from kernel.settings import SettingsError
from ledger.db import make_engine, make_session_factory
from ledger.models import Antenna, AuditEntry
from ledger.timeutil import utc_now


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TELEGESTION_CORE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TELEGESTION_CORE_DATABASE_URL", raising=False)
    monkeypatch.delenv("TELEGESTION_DEMO_PASSWORD", raising=False)
    url = f"sqlite:///{tmp_path / 'telegestion.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        session.add_all(
            [Antenna(code="NORD", name="Paris Nord"), Antenna(code="SUD", name="Paris Sud")]
        )
        session.commit()
    engine.dispose()
    return tmp_path


def _users(data_dir: Path) -> dict[str, User]:
    engine = make_engine(f"sqlite:///{data_dir / 'telegestion.sqlite3'}")
    with make_session_factory(engine)() as session:
        found = {u.login: u for u in session.scalars(select(User))}
    engine.dispose()
    return found


def test_users_create_list_passwd(
    embedded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("un mot de passe solide\n"))
    args = ["users", "create", "marie", "--name", "Marie Curie", "--role", "antenna_manager"]
    assert main([*args, "--antenna", "NORD", "--password-stdin"]) == 0
    user = _users(embedded)["marie"]
    assert user.role is Role.ANTENNA_MANAGER and user.antenna_id is not None
    assert verify(user.password_hash, "un mot de passe solide")

    monkeypatch.setattr(sys, "stdin", io.StringIO("court\n"))
    assert main(["users", "passwd", "marie", "--password-stdin"]) == 2
    assert "au moins 12 caractères" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("un autre mot de passe\n"))
    assert main(["users", "passwd", "marie", "--password-stdin"]) == 0
    changed = _users(embedded)["marie"]
    assert verify(changed.password_hash, "un autre mot de passe")
    assert changed.session_epoch == user.session_epoch + 1

    no_antenna = ["users", "create", "pierre", "--name", "P", "--role", "antenna_manager"]
    assert main([*no_antenna, "--password-stdin"]) == 2
    capsys.readouterr()
    assert main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "marie\tantenna_manager\tNORD\tactif" in listing
    assert "pierre" not in listing


def test_demo_users_once(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "demo", "--if-empty"]) == 0
    out = capsys.readouterr().out
    users = _users(embedded)
    assert set(users) == {"resp-nord", "resp-sud", "referent", "admin"}
    password = next(line.split()[1] for line in out.splitlines() if "resp-nord" in line)
    assert verify(users["resp-nord"].password_hash, password)
    assert main(["users", "demo", "--if-empty"]) == 0
    assert "existent déjà" in capsys.readouterr().out
    assert len(_users(embedded)) == 4


def test_secret_key_rules(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="production"):
        secret_key(tmp_path, embedded=False, env={})
    with pytest.raises(SettingsError, match="at least 32"):
        secret_key(tmp_path, embedded=False, env={SECRET_KEY_ENV: "short"})
    assert secret_key(tmp_path, embedded=False, env={SECRET_KEY_ENV: "k" * 40}) == "k" * 40
    generated = secret_key(tmp_path, embedded=True, env={})
    assert len(generated) >= 32
    assert stat.S_IMODE((tmp_path / SECRET_KEY_FILE).stat().st_mode) == 0o600
    assert secret_key(tmp_path, embedded=True, env={}) == generated  # kept across restarts
    (tmp_path / SECRET_KEY_FILE).chmod(0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        secret_key(tmp_path, embedded=True, env={})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_refuses_to_start_without_a_key_in_production(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TELEGESTION_CORE_DATA_DIR": str(tmp_path),
        "TELEGESTION_CORE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    }
    env.pop(SECRET_KEY_ENV, None)
    result = subprocess.run(
        [sys.executable, "-m", "config.cli", "extranet", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert SECRET_KEY_ENV in result.stderr


def test_serve_runs_gunicorn_on_the_embedded_default(embedded: Path) -> None:
    port = _free_port()
    env = {**os.environ, "TELEGESTION_EXTRANET_WORKERS": "1"}
    env.pop(SECRET_KEY_ENV, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "config.cli", "extranet", "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/connexion", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200
        assert "Connexion" in answer.text
        assert stat.S_IMODE((embedded / SECRET_KEY_FILE).stat().st_mode) == 0o600
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_users_unlock_lifts_a_lockout(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(f"sqlite:///{embedded / 'telegestion.sqlite3'}")
    now = utc_now()
    with make_session_factory(engine)() as session:
        session.add(
            LoginThrottle(
                scope=ThrottleScope.LOGIN,
                key="marie",
                failures=10,
                window_started_at=now,
                locked_until=now + timedelta(minutes=15),
                last_attempt_at=now,
            )
        )
        session.commit()
    assert main(["users", "unlock", "marie"]) == 0
    assert "de nouveau permises" in capsys.readouterr().out
    with make_session_factory(engine)() as session:
        assert session.scalars(select(LoginThrottle)).all() == []
        assert session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "login.unlocked")
        ).one()
    engine.dispose()
    assert main(["users", "unlock", "marie"]) == 0
    assert "Aucun compteur" in capsys.readouterr().out


def test_api_token_create_list_revoke(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from extranet.api.tokens import digest
    from extranet.models import ApiToken

    args = ["extranet", "api-token", "create", "Paie", "--write", "--antenna", "NORD"]
    assert main(args) == 0
    secret = capsys.readouterr().out.splitlines()[-1]
    assert secret.startswith("tg_")
    assert main(["extranet", "api-token", "create", "X", "--antenna", "NOPE"]) == 2
    assert main(["extranet", "api-token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "read write\tNORD\tactif\tPaie" in listed and secret not in listed
    engine = make_engine(f"sqlite:///{embedded / 'telegestion.sqlite3'}")
    with make_session_factory(engine)() as session:
        token = session.scalars(select(ApiToken)).one()
        assert token.token_hash == digest(secret)
        token_id = token.id
    assert main(["extranet", "api-token", "revoke", str(token_id)]) == 0
    assert main(["extranet", "api-token", "revoke", str(token_id)]) == 1
    with make_session_factory(engine)() as session:
        assert session.get_one(ApiToken, token_id).revoked_by == "system:cli"
    engine.dispose()
