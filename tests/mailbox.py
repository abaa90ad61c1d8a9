"""A real SMTP server on loopback (aiosmtpd), for the alert tests."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOGIN, PASSWORD = "alertes", "secret-smtp"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def wait(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} mail(s) received, {count} expected")
            time.sleep(0.05)
        return list(self.messages)

    def env(self) -> dict[str, str]:
        """The ``[alerts]`` settings of a process that mails here."""
        return {
            "TELEGESTION_ALERTS_RECIPIENTS": "astreinte@example.org, direction@example.org",
            "TELEGESTION_ALERTS_SENDER": "telegestion@example.org",
            "TELEGESTION_ALERTS_SMTP_HOST": self.host,
            "TELEGESTION_ALERTS_SMTP_PORT": str(self.port),
            "TELEGESTION_ALERTS_SMTP_SECURITY": "none",
            "TELEGESTION_ALERTS_SMTP_USER": LOGIN,
            "TELEGESTION_ALERTS_SMTP_PASSWORD": PASSWORD,
        }


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        LOGIN.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """Accepts mail only after a login with the right password (AUTH over plain SMTP
    on loopback: the test checks the password really comes from the environment)."""
    box = Mailbox("127.0.0.1", free_port())
    controller = Controller(
        box,
        hostname=box.host,
        port=box.port,
        authenticator=_authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield box
    controller.stop()
