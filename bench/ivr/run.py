"""IVR benchmark: rising call setup rates through the real Asterisk.

For each rate, calls are placed for a few seconds, first into a dialplan-only
IVR doing the same steps on the same Asterisk (answer, read the code, write a
line, confirm), then into the Stasis IVR. Each caller is its own beneficiary
with its own worker and an arbitrary code (2951, 5555...). Two kinds of calls:

- Local channels (default): originated through AMI, the code keyed by
  SendDTMF at 80 ms a digit;
- ``--sip``: sipp over SIP and RTP, caller in From and P-Asserted-Identity,
  the code as RFC 4733 events from per-slot pcaps (bench/ivr/sip.py).

Reports, per rate and per system: calls placed, setups per second held,
calls lost (placed but not recorded with their code), p50/p99 from the last
digit to the ledger commit (or the spool line for the baseline), p50/p99
from call start to the first prompt, the CPU time per call of the IVR
process and of Asterisk, and the load average (the machine may be shared:
compare the two systems of one run, never runs of different days). Stops
rising once calls are lost. ``--profile FILE`` records the IVR with py-spy.

The dialplan-only IVR plays what the application plays to a worker arriving
(welcome, code request, "arrival recorded at H hours M", goodbye): Asterisk's
CPU a call is mostly the audio it sends, so both must send the same.
``--sip --floor`` adds a third system between them: the dialplan-only IVR
behind a Stasis application that sends each call straight back
(bench/ivr/floor.py), what entering and leaving Stasis costs Asterisk.

    .venv/bin/python -m bench.ivr.run [--rates 5,10,20,40] [--seconds 5] [--sip [--floor]]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.ivr import breakdown
from bench.ivr.floor import FloorApp
from bench.ivr.sip import Phone, SipBench, SipStep
from config.database import create_schema
from ivr import ami
from ledger.db import make_engine, make_session_factory
from ledger.models import CallEvent, CallOutcome
from tests import factories
from tests.ivr.sipload import distinct_codes

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("TELEGESTION_ASTERISK_DIR", REPO / "var" / "asterisk"))
HTTP_PORT = int(os.environ.get("TELEGESTION_ASTERISK_HTTP_PORT", "8088"))
AMI_PORT = int(os.environ.get("TELEGESTION_ASTERISK_AMI_PORT", "5038"))
SIP_PORT = int(os.environ.get("TELEGESTION_ASTERISK_SIP_PORT", "5060"))
ARI = f"http://127.0.0.1:{HTTP_PORT}/ari"
#: sipp's own SIP and media ports (helper K=1's range: 21000-21999).
SIPP_PORTS = int(os.environ.get("TELEGESTION_BENCH_SIPP_PORTS", "21000"))
#: Each call takes the next (beneficiary, worker) pair: a fresh pair is always an arrival.
NEXT_PAIR = itertools.count()


@dataclass
class Step:
    system: str
    rate: float
    placed: int
    held_rate: float
    completed: int
    max_concurrent: int
    commit_p50_ms: float
    commit_p99_ms: float
    first_prompt_p99_ms: float
    first_prompt_p50_ms: float = float("nan")
    #: CPU time per call placed, of the IVR process and of Asterisk (ms).
    ivr_cpu_ms: float = float("nan")
    asterisk_cpu_ms: float = float("nan")
    #: What the commit time is made of (Stasis only, bench/ivr/breakdown.py).
    parts: str = ""

    @property
    def lost(self) -> int:
        return self.placed - self.completed


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sample_concurrency(password: str, prefix: str, stop: threading.Event, out: list[int]) -> None:
    with httpx.Client(auth=("telegestion", password), timeout=5) as client:
        while not stop.is_set():
            try:
                ids = [c["id"] for c in client.get(f"{ARI}/channels").json()]
                out.append(sum(1 for i in ids if i.startswith(prefix)))
            except httpx.HTTPError:
                pass
            time.sleep(0.2)


def place(
    password: str,
    context: str,
    prefix: str,
    rate: float,
    seconds: float,
    pairs: list[tuple[str, str]],
) -> tuple[list[str], float, list[int]]:
    ids: list[str] = []
    concurrency: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(
        target=sample_concurrency, args=(password, prefix, stop, concurrency), daemon=True
    )
    sampler.start()
    total = int(rate * seconds)
    with ami.session("127.0.0.1", AMI_PORT, "telegestion", password) as manager:
        start = time.monotonic()
        for n in range(total):
            target = start + n / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            caller, code = pairs[next(NEXT_PAIR) % len(pairs)]
            token = uuid.uuid4().hex[:10]
            ami.originate_test_call(
                manager,
                caller=caller,
                keys=f"{code}#",
                ivr_channel_id=f"{prefix}{token}",
                phone_channel_id=f"x{token}",
                hold=20,
                dtmf_ms=80,
                lead=0.5,
                ivr_context=context,
            )
            ids.append(f"{prefix}{token}")
        elapsed = time.monotonic() - start
    # Keep sampling until the calls are over.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not concurrency or concurrency[-1] > 0):
        time.sleep(0.5)
    stop.set()
    sampler.join()
    return ids, total / elapsed if elapsed else 0.0, concurrency


def ts(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def measure_ivr(
    password: str, rate: float, seconds: float, pairs: list[tuple[str, str]], factory, metrics: Path
) -> Step:  # type: ignore[no-untyped-def]
    prefix = f"i{int(rate)}-"
    ids, held, concurrency = place(password, "telegestion", prefix, rate, seconds, pairs)
    wanted = set(ids)
    deadline = time.monotonic() + 60
    found: dict[str, CallEvent] = {}
    while time.monotonic() < deadline:
        with factory() as session:
            rows = session.scalars(select(CallEvent).where(CallEvent.channel_id.in_(wanted)))
            found = {e.channel_id: e for e in rows}
        if len(found) == len(wanted):
            break
        time.sleep(0.5)
    lines = (
        [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    )
    ours = [m for m in lines if m["channel"] in wanted]
    commit = [
        (ts(m["committed"]) - ts(m["code_completed"])) * 1000  # type: ignore[operator]
        for m in ours
        if m["committed"] and m["code_completed"]
    ]
    first = [
        (ts(m["first_prompt"]) - ts(m["received"])) * 1000  # type: ignore[operator]
        for m in ours
        if m["first_prompt"] and m.get("received")
    ]
    completed = sum(1 for e in found.values() if e.outcome is CallOutcome.RECORDED)
    return Step(
        "stasis", rate, len(ids), held, completed, max(concurrency or [0]),
        pct(commit, 0.5), pct(commit, 0.99), pct(first, 0.99), pct(first, 0.5),
        parts=breakdown.describe(ours),
    )  # fmt: skip


def measure_baseline(
    password: str, rate: float, seconds: float, pairs: list[tuple[str, str]], spool: Path
) -> Step:
    prefix = f"d{int(rate)}-"
    ids, held, concurrency = place(password, "telegestion-baseline", prefix, rate, seconds, pairs)
    wanted = set(ids)
    rows: dict[str, list[str]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = spool.read_text() if spool.exists() else ""
        rows = {p[0]: p for p in (line.split("|") for line in text.splitlines()) if p[0] in wanted}
        if len(rows) == len(wanted):
            break
        time.sleep(0.5)
    done = [r for r in rows.values() if r[5]]
    commit = [(float(r[4]) - float(r[3])) * 1000 for r in done]
    first = [(float(r[2]) - float(r[1])) * 1000 for r in rows.values()]
    return Step(
        "dialplan", rate, len(ids), held, len(done), max(concurrency or [0]),
        pct(commit, 0.5), pct(commit, 0.99), pct(first, 0.99), pct(first, 0.5),
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sip_step(step: SipStep) -> Step:
    return Step(
        step.system, step.rate, step.placed, step.held_rate, step.completed, 0,
        pct(step.commit_ms, 0.5), pct(step.commit_ms, 0.99),
        pct(step.first_prompt_ms, 0.99), pct(step.first_prompt_ms, 0.5),
        parts=step.parts,
    )  # fmt: skip


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="5,10,20,40")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument(
        "--sip", action="store_true", help="calls over SIP/RTP with sipp instead of Local channels"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="with --sip: also the dialplan IVR behind a Stasis application that does nothing",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the IVR process with py-spy (raw stacks) into this file",
    )
    args = parser.parse_args()
    subprocess.run([str(REPO / "asterisk" / "provision"), "start"], check=True)
    password = (STATE / "ari-password").read_text().strip()
    work = Path(tempfile.mkdtemp(prefix="bench-ivr."))
    url = f"sqlite:///{work / 'bench.sqlite3'}"
    engine = make_engine(url)
    create_schema(engine)
    factory = make_session_factory(engine)
    pairs: list[tuple[str, str]] = []
    phones: list[Phone] = []
    with factory() as session:
        antenna = factories.antenna(session, "BENCH")
        # Arbitrary codes (falling, repeated digits): each caller its own beneficiary
        # and its own worker, so that every call is an arrival and can be matched.
        for n, code in enumerate(distinct_codes(args.pairs, seed=17)):
            number = f"+3314{n:07d}"
            factories.beneficiary(session, antenna, (number,))
            factories.worker(session, antenna, code)
            pairs.append(("0" + number[3:], code))
            phones.append(Phone("0" + number[3:], number, code))
        session.commit()
    metrics = work / "metrics.jsonl"
    env = {
        **os.environ,
        "TELEGESTION_CORE_DATA_DIR": str(work),
        "TELEGESTION_CORE_DATABASE_URL": url,
        "TELEGESTION_IVR_METRICS_PATH": str(metrics),
        "TELEGESTION_IVR_HEALTH_PORT": "0",
        "TELEGESTION_IVR_ARI_URL": ARI,
        "TELEGESTION_IVR_ARI_PASSWORD": password,
        "TELEGESTION_IVR_AMI_PORT": str(AMI_PORT),
        "TELEGESTION_IVR_SPOOL_DIR": str(work / "ivr"),
        "TELEGESTION_IVR_DIALPLAN_SPOOL": str(work / "none.spool"),
    }
    log = (work / "ivr.log").open("wb")
    ivr = subprocess.Popen(
        [sys.executable, "-m", "config.cli", "ivr", "run"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=log,
    )
    systems = ("dialplan", "floor", "stasis") if args.sip and args.floor else ("dialplan", "stasis")
    floor = FloorApp(ARI, password) if "floor" in systems else None
    profiler = None
    if args.profile:
        profiler = subprocess.Popen(
            ["py-spy", "record", "--pid", str(ivr.pid), "--format", "raw", "--rate", "200",
             "--nonblocking", "--threads", "-o", str(args.profile)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        with httpx.Client(auth=("telegestion", password)) as client:
            deadline = time.monotonic() + 30
            while not client.get(f"{ARI}/applications").json():
                if time.monotonic() > deadline:
                    raise SystemExit("the IVR did not connect to ARI")
                time.sleep(0.2)
        baseline_spool = STATE / "spool" / "baseline.spool"
        sip = SipBench(
            phones, factory, metrics, baseline_spool, work / "sipp", SIP_PORT,
            iter(range(SIPP_PORTS, SIPP_PORTS + 1000, 4)),
        )  # fmt: skip
        asterisk_pid = int((STATE / "asterisk.pid").read_text())
        print(f"{'sip' if args.sip else 'local'} channels, load average before: {load()}")
        print(f"{'system':9} {'rate':>5} {'placed':>6} {'held/s':>7} {'done':>5} {'lost':>4} "
              f"{'commit p50':>10} {'p99 ms':>8} {'1st prompt p50':>14} {'p99 ms':>8} "
              f"{'cpu ms/call ivr':>15} {'asterisk':>8}  load")  # fmt: skip
        if floor is not None:
            floor.start()
        for rate in (float(r) for r in args.rates.split(",")):
            steps = []
            for system in systems:
                before = cpu_seconds(ivr.pid), cpu_seconds(asterisk_pid)
                if args.sip:
                    step = sip_step(
                        sip.stasis(rate, args.seconds)
                        if system == "stasis"
                        else sip.baseline(rate, args.seconds, system)
                    )
                elif system == "dialplan":
                    step = measure_baseline(password, rate, args.seconds, pairs, baseline_spool)
                else:
                    step = measure_ivr(password, rate, args.seconds, pairs, factory, metrics)
                after = cpu_seconds(ivr.pid), cpu_seconds(asterisk_pid)
                step.ivr_cpu_ms = (after[0] - before[0]) * 1000 / step.placed
                step.asterisk_cpu_ms = (after[1] - before[1]) * 1000 / step.placed
                steps.append(step)
                print(f"{step.system:9} {step.rate:5.0f} {step.placed:6d} {step.held_rate:7.1f} "
                      f"{step.completed:5d} {step.lost:4d} "
                      f"{step.commit_p50_ms:10.1f} {step.commit_p99_ms:8.1f} "
                      f"{step.first_prompt_p50_ms:14.1f} {step.first_prompt_p99_ms:8.1f} "
                      f"{step.ivr_cpu_ms:15.1f} {step.asterisk_cpu_ms:8.1f}  {load()}",
                      flush=True)  # fmt: skip
                if step.parts:
                    print(f"          {step.parts}", flush=True)
                if floor is not None and system == "floor":
                    print(f"          floor: {floor.take()} channels sent back by the "
                          "floor application", flush=True)  # fmt: skip
            base, ours = steps[0], steps[-1]
            ratio = (ours.completed / ours.placed) / (base.completed / base.placed or 1)
            print(f"          stasis/dialplan: completed {ratio:.2f}, "
                  f"held rate {ours.held_rate / (base.held_rate or 1):.2f}, first prompt p99 "
                  f"{ours.first_prompt_p99_ms / (base.first_prompt_p99_ms or 1):.2f}",
                  flush=True)  # fmt: skip
            if any(step.lost for step in steps):
                print(f"calls lost at {rate:.0f}/s: stopping the rise")
                break
    finally:
        if floor is not None:
            floor.stop()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
        ivr.terminate()
        ivr.wait(20)
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
