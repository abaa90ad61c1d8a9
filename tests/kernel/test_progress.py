"""Progress lines: on a terminal only, and a real command's seen through a pseudo-terminal."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from kernel.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal_and_the_callback_always() -> None:
    seen: list[tuple[int, int]] = []
    screen = _Terminal()
    progress = Progress(
        "États 2026-10", "état", also=lambda d, t: seen.append((d, t)), stream=screen
    )
    for done in range(0, 11):
        progress(done, 10)
    assert seen[-1] == (10, 10) and len(seen) == 11
    assert "États 2026-10 : 10/10 état (100 %" in screen.getvalue()
    assert screen.getvalue().endswith("\n")  # the last state stays on screen


def test_quiet_when_not_on_a_terminal() -> None:
    seen: list[tuple[int, int]] = []
    pipe = io.StringIO()
    progress = Progress("Import", also=lambda d, t: seen.append((d, t)), stream=pipe)
    progress(5, 10)
    progress(10, 10)
    assert pipe.getvalue() == "" and seen == [(5, 10), (10, 10)]


def test_archive_run_shows_its_bar_on_a_real_terminal(tmp_path: Path) -> None:
    env = {**os.environ, "TELEGESTION_CORE_DATA_DIR": str(tmp_path)}
    env.pop("TELEGESTION_CORE_DATABASE_URL", None)
    cli = [sys.executable, "-m", "config.cli"]
    for args in (
        ["demo", "--workers", "6", "--beneficiaries", "8", "--days", "60"],
        ["archive", "init-pki"],
    ):
        subprocess.run([*cli, *args], env=env, check=True, capture_output=True, timeout=300)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*cli, "archive", "run", "--month", "2026-10", "--processes", "1"],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    screen = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the command ended and closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    assert process.wait(timeout=120) == 0, screen.decode(errors="replace")
    os.close(controller)
    text = screen.decode(errors="replace")
    assert "États 2026-10" in text and "état" in text  # the progress line, with its unit
    assert "signé(s)" in text
