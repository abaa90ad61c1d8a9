"""``telegestion run``: the whole service on one machine, for the embedded defaults.

Prepares the database (migrations, trial PKI; the demo organisation and its
accounts only with ``--demo``, on an empty database: a real organisation is
installed with ``telegestion init``),
then starts each long-running part as its own process and restarts any that
dies, so that a crash of one part (say the scheduler) never takes the IVR down.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

#: (name, telegestion sub-command) of each long-running part.
SERVICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("extranet", ("extranet", "serve")),
    ("ivr", ("ivr", "run")),
    ("scheduler", ("scheduler", "run")),
    ("watchdog", ("watchdog", "run")),
)

#: One-shot preparation steps, in order; a missing command is skipped.
PREPARE: tuple[tuple[str, ...], ...] = (
    ("migrate",),
    ("archive", "init-pki", "--if-missing"),
)

#: With ``--demo`` only, after the migrations: invented people must never reach a real database.
DEMO_PREPARE: tuple[tuple[str, ...], ...] = (
    ("demo", "--if-empty"),
    ("users", "demo", "--if-empty"),
)


def preparation(demo: bool) -> tuple[tuple[str, ...], ...]:
    """The one-shot steps of ``run``, in order."""
    return (PREPARE[0], *(DEMO_PREPARE if demo else ()), *PREPARE[1:])


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    #: Given up after too many restarts: not started again, and an alert raised.
    given_up: bool = False

    def start(self) -> None:
        logger.info("starting %s: %s", self.name, " ".join(self.argv))
        self.process = subprocess.Popen(self.argv)


def available(parser: argparse.ArgumentParser, command: tuple[str, ...]) -> bool:
    """Whether ``telegestion`` has this sub-command (parts are optional packages)."""
    action: argparse.ArgumentParser | None = parser
    for word in command:
        if action is None:
            return False
        subparsers = [a for a in action._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or word not in subparsers[0].choices:
            return word.startswith("-")
        action = subparsers[0].choices[word]
    return True


def run(args: argparse.Namespace) -> int:
    from config.cli import build_parser

    parser = build_parser()
    base = [sys.executable, "-m", "config.cli"]
    for step in preparation(args.demo):
        if not available(parser, tuple(w for w in step if not w.startswith("-"))):
            continue
        result = subprocess.run([*base, *step], check=False)
        if result.returncode != 0:
            logger.error("preparation step %s failed (%s)", " ".join(step), result.returncode)
            return result.returncode
    children = [
        Child(name, [*base, *command])
        for name, command in SERVICES
        if name not in args.without and available(parser, command)
    ]
    if not children:
        logger.error("no service to run")
        return 1
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if available(parser, ("watchdog", "report")):
        # Ends an incident a previous supervisor raised by giving up on a part.
        subprocess.run(
            [*base, "watchdog", "report", *(c.name for c in children)], check=False, timeout=60
        )
    supervise(children, base, lambda: stopping)
    return 0


def supervise(children: list[Child], base: list[str], stopping: Callable[[], bool]) -> None:
    """Start ``children``, restart any that dies, until ``stopping()``; then stop them.

    A child that dies more than five times in a minute is given up, and the
    alert raised (``_alert_given_up``) through ``base`` (the ``telegestion`` command).
    """
    for child in children:
        child.start()
    try:
        while not stopping():
            time.sleep(0.5)
            for child in children:
                assert child.process is not None
                code = child.process.poll()
                if code is None or stopping() or child.given_up:
                    continue
                now = time.monotonic()
                child.restarts = [t for t in child.restarts if now - t < 60] + [now]
                if len(child.restarts) > 5:
                    logger.error("%s keeps failing (exit %s); giving up on it", child.name, code)
                    child.given_up = True
                    _alert_given_up(base, child.name, code)
                    continue
                logger.warning("%s exited with %s; restarting", child.name, code)
                child.start()
    finally:
        for child in children:
            if child.process and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()


def _alert_given_up(base: list[str], name: str, code: int) -> None:
    """Raise the alert (state row and mail, ``kernel.alerts``) in a short process of
    its own, so that a broken import or database cannot take the supervisor down."""
    detail = (
        f"Arrêté après 6 redémarrages en une minute (dernier code de sortie {code}) ; "
        "le superviseur ne le relance plus. Voir son journal, puis relancer le service."
    )
    try:
        subprocess.run(
            [*base, "watchdog", "report", name, "--down", "--detail", detail],
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        logger.exception("alert about %s not raised", name)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sub = commands.add_parser("run", help="run the whole service (extranet, IVR, scheduler)")
    sub.add_argument(
        "--without",
        action="append",
        default=[],
        choices=[name for name, _ in SERVICES],
        help="leave one part out (repeatable)",
    )
    sub.add_argument(
        "--demo",
        action="store_true",
        help="load the demo organisation and its accounts when the database is empty",
    )
    sub.set_defaults(handler=run)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
