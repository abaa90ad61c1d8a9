"""The production nginx site (config/nginx/telegestion.conf), run as it is by a
real nginx on loopback with a throwaway certificate, in front of a real gunicorn
started with ``trusted_proxies = 1``; and the app believing no forwarded header
unless told to."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.models import AuditEntry
from tests.extranet.conftest import (
    PASSWORD,
    TOKEN,
    Scenario,
    Server,
    free_port,
    http_login,
    make_app,
)

SITE = Path(__file__).resolve().parents[2] / "config" / "nginx" / "telegestion.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def gunicorn_env() -> dict[str, str]:
    return {
        "TELEGESTION_EXTRANET_TRUSTED_PROXIES": "1",
        "TELEGESTION_EXTRANET_SECURE_COOKIES": "true",
    }


class Site:
    def __init__(self, https: str, http: str, cert: Path) -> None:
        self.https, self.http, self.cert = https, http, cert


def _site_for_test(root: Path, https_port: int, http_port: int, upstream: str) -> str:
    """The repository's site with only the names marked CHANGE (and the listen
    ports) replaced, as an operator does."""
    text = SITE.read_text()
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("/etc/ssl/telegestion/fullchain.pem", str(root / "cert.pem")),
        ("/etc/ssl/telegestion/privkey.pem", str(root / "key.pem")),
        ("http://127.0.0.1:8000", upstream),
        ("ssl_session_cache shared:telegestion_tls:10m;", "ssl_session_cache off;"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def site(gunicorn: Server, tmp_path: Path) -> Iterator[Site]:
    if not Path(NGINX).exists() or shutil.which("openssl") is None:
        pytest.skip("nginx and openssl are not installed (scripts/system-packages.txt)")
    root = tmp_path / "nginx"
    root.mkdir()
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    https_port, http_port = free_port(), free_port()
    (root / "site.conf").write_text(_site_for_test(root, https_port, http_port, gunicorn.url))
    user = "user root;\n" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(
        f"""{user}worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/site.conf;
}}
"""
    )
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(root), "-c", str(root / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(root), "-c", str(root / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    https = f"https://127.0.0.1:{https_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (root / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not answer within 30 s"
            try:
                httpx.get(f"{https}/sante", verify=str(root / "cert.pem"), timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Site(https, f"http://127.0.0.1:{http_port}", root / "cert.pem")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_site_serves_the_extranet_over_tls_only(site: Site, scenario: Scenario) -> None:
    plain = httpx.get(f"{site.http}/connexion?suivant=/alertes", timeout=10)
    assert plain.status_code == 301
    assert plain.headers["location"].startswith("https://")
    assert plain.headers["location"].endswith("/connexion?suivant=/alertes")
    with httpx.Client(base_url=site.https, verify=str(site.cert), timeout=60) as http:
        page = http.get("/connexion")
        assert page.status_code == 200 and "Connexion" in page.text
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert "nginx/" not in page.headers.get("server", "")
        answer = http_login(http, "resp-a", PASSWORD)
        assert answer.status_code == 302
        cookie = answer.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert http.get("/alertes").status_code == 200  # the Secure cookie came back


def test_a_forged_forwarded_for_does_not_escape_the_address_limit(
    site: Site, scenario: Scenario, session: Session
) -> None:
    """The site overwrites X-Forwarded-For: the app, trusting one proxy, counts
    the real client however it disguises itself."""
    with httpx.Client(base_url=site.https, verify=str(site.cert), timeout=60) as http:
        token = TOKEN.search(http.get("/connexion").text)
        assert token
        http.post(
            "/connexion",
            data={"login": "nobody", "password": "x" * 12, "csrf_token": token.group(1)},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
    session.expire_all()
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.actor == "nobody", AuditEntry.action == "login.refused")
    ).one()
    assert entry.details["address"] == "127.0.0.1"


def _address_seen(client: FlaskClient, session: Session, forwarded: str) -> str:
    token = TOKEN.search(client.get("/connexion").get_data(as_text=True))
    assert token
    client.post(
        "/connexion",
        data={"login": "x", "password": "x" * 12, "csrf_token": token.group(1)},
        headers={"X-Forwarded-For": forwarded, "X-Forwarded-Proto": "https"},
    )
    session.expire_all()
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.actor == "x").order_by(AuditEntry.id.desc())
    ).first()
    assert entry is not None
    return str(entry.details["address"])


def test_forwarded_headers_are_believed_only_when_configured(
    session_factory: sessionmaker[Session], data_dir: Path, scenario: Scenario, session: Session
) -> None:
    direct = make_app(session_factory, data_dir).test_client()
    assert _address_seen(direct, session, "127.0.0.9") == "127.0.0.1"
    proxied = make_app(session_factory, data_dir, trusted_proxies=1).test_client()
    # One trusted proxy: the address it appended, not what the client put before.
    assert _address_seen(proxied, session, "127.0.0.8, 127.0.0.9") == "127.0.0.9"
