"""Alerts: one mail per incident, a reminder, a recovery, over a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from kernel import alerts
from kernel.alerts import Alerter, AlertSettings, CheckResult, CheckState
from kernel.settings import SettingsError
from tests.mailbox import LOGIN, Mailbox

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def settings_for(box: Mailbox, **overrides: object) -> AlertSettings:
    values: dict[str, object] = {
        "recipients": "astreinte@example.org, direction@example.org",
        "sender": "telegestion@example.org",
        "smtp_host": box.host,
        "smtp_port": box.port,
        "smtp_security": "none",
        "smtp_user": LOGIN,
        "reminder_minutes": 60,
    }
    values.update(overrides)
    return AlertSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(alerts.PASSWORD_ENV, "secret-smtp")


def down(name: str = "asterisk", detail: str = "AMI : non") -> CheckResult:
    return CheckResult(name, f"Partie {name}", False, detail)


def up(name: str = "asterisk") -> CheckResult:
    return CheckResult(name, f"Partie {name}", True)


def test_one_mail_per_incident_a_reminder_then_the_recovery(
    mailbox: Mailbox, password: None, session_factory: sessionmaker[Session]
) -> None:
    clock = Clock()
    alerter = Alerter(settings_for(mailbox), session_factory, "Paris Domicile", clock=clock)
    assert alerter.observe([up(), up("database")]) == []
    clock.now += timedelta(minutes=1)
    assert [c.kind for c in alerter.observe([down(), up("database")])] == ["down"]
    (first,) = mailbox.wait(1)
    assert first["Subject"] == "[Télégestion Paris Domicile] Alerte : Partie asterisk"
    assert "EN PANNE — Partie asterisk" in first.get_content()
    assert "en panne depuis le 20/11/2026 à 10:01 (heure de Paris)" in first.get_content()
    assert "AMI : non" in first.get_content()
    assert mailbox.envelopes[0] == (
        "telegestion@example.org",
        ["astreinte@example.org", "direction@example.org"],
    )
    # Still down for 59 minutes: no mail storm.
    for _ in range(59):
        clock.now += timedelta(minutes=1)
        assert alerter.observe([down(), up("database")]) == []
    assert len(mailbox.messages) == 1
    clock.now += timedelta(minutes=1)
    assert [c.kind for c in alerter.observe([down(), up("database")])] == ["reminder"]
    reminder = mailbox.wait(2)[1]
    assert "TOUJOURS EN PANNE — Partie asterisk" in reminder.get_content()
    assert "en panne depuis le 20/11/2026 à 10:01" in reminder.get_content()
    clock.now += timedelta(minutes=5)
    assert [c.kind for c in alerter.observe([up(), up("database")])] == ["up"]
    recovery = mailbox.wait(3)[2]
    assert recovery["Subject"] == "[Télégestion Paris Domicile] Rétabli : Partie asterisk"
    assert "RÉTABLI — Partie asterisk" in recovery.get_content()
    clock.now += timedelta(hours=5)
    assert alerter.observe([up(), up("database")]) == []
    assert len(mailbox.messages) == 3


def test_parts_that_fall_together_are_one_mail(
    mailbox: Mailbox, password: None, session_factory: sessionmaker[Session]
) -> None:
    alerter = Alerter(settings_for(mailbox), session_factory, "Org", clock=Clock())
    alerter.observe([down("asterisk"), down("ivr"), up("database")])
    (mail,) = mailbox.wait(1)
    assert mail["Subject"] == "[Télégestion Org] Alerte : Partie asterisk, Partie ivr"


def test_states_are_kept_so_that_a_restarted_watchdog_mails_nothing_twice(
    mailbox: Mailbox, password: None, session_factory: sessionmaker[Session]
) -> None:
    clock = Clock()
    Alerter(settings_for(mailbox), session_factory, "Org", clock=clock).observe([down()])
    mailbox.wait(1)
    clock.now += timedelta(minutes=2)
    again = Alerter(settings_for(mailbox), session_factory, "Org", clock=clock)
    assert again.observe([down()]) == []
    with session_factory() as session:
        (row,) = alerts.states(session)
    assert (row.name, row.ok, row.detail) == ("asterisk", False, "AMI : non")
    assert row.since.replace(tzinfo=UTC) == T0
    assert len(mailbox.messages) == 1


def test_a_mail_that_fails_is_sent_at_the_next_round(
    mailbox: Mailbox, password: None, session_factory: sessionmaker[Session]
) -> None:
    clock = Clock()
    broken = settings_for(mailbox, smtp_port=1, smtp_timeout=2.0)
    Alerter(broken, session_factory, "Org", clock=clock).observe([down()])
    with session_factory() as session:
        row = session.get_one(CheckState, "asterisk")
        assert not row.ok and row.notified_at is None
    clock.now += timedelta(minutes=1)
    changes = Alerter(settings_for(mailbox), session_factory, "Org", clock=clock).observe([down()])
    assert [c.kind for c in changes] == ["down"]
    assert "en panne depuis le 20/11/2026 à 10:00" in mailbox.wait(1)[0].get_content()


def test_a_wrong_password_sends_nothing_and_says_so(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, session_factory: sessionmaker[Session]
) -> None:
    monkeypatch.setenv(alerts.PASSWORD_ENV, "not-the-password")
    # aiosmtpd answers a failed login slowly (against guessing): a short timeout.
    Alerter(settings_for(mailbox, smtp_timeout=3.0), session_factory, "Org", clock=Clock()).observe(
        [down()]
    )
    assert mailbox.messages == []
    with session_factory() as session:
        assert session.get_one(CheckState, "asterisk").notified_at is None


def test_nobody_to_mail_still_records_the_state(session_factory: sessionmaker[Session]) -> None:
    sent: list[str] = []
    alerter = Alerter(
        AlertSettings(), session_factory, "Org", send=lambda s, b: sent.append(s), clock=Clock()
    )
    alerter.observe([down()])
    assert sent == []
    with session_factory() as session:
        assert not session.get_one(CheckState, "asterisk").ok


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("smtp_security", "tls1.0"),
        ("calls_hours", "20-08"),
        ("calls_hours", "huit"),
        ("interval_seconds", 0.0),
    ],
)
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(SettingsError):
        AlertSettings(**{field: value})  # type: ignore[arg-type]
