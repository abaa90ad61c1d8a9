"""What the time from the code's ``#`` to its commit is made of, from the IVR's metrics.

Each Stasis call's metrics line carries, besides the ``#`` and the commit,
when the worker's code was checked (a reader thread), when the commit was
asked, when the committer took the event and when its commit returned. The
parts, p50 and p99 each, and the mean of each part over the slowest 1 % of
calls (what the p99 is made of):

- ``read``: the code's lookup, from the ``#`` to its answer back on the loop;
- ``hand``: from there to the commit asked (the identification awaited, the
  direction prompt when one is asked, the loop's own delay);
- ``queue``: waiting for the committer (the commit before still running);
- ``write``: the commit of the group the event went in;
- ``wake``: from the commit's return to the call's task running again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

PARTS = ("read", "hand", "queue", "write", "wake")


def _ts(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def parts(lines: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each part in ms, for the calls whose metrics hold every moment."""
    out: dict[str, list[float]] = {name: [] for name in (*PARTS, "total")}
    for m in lines:
        moments = (
            _ts(m.get("code_completed")),
            _ts(m.get("code_checked")),
            _ts(m.get("commit_asked")),
            m.get("commit_taken"),
            m.get("commit_written"),
            _ts(m.get("committed")),
        )
        if any(t is None for t in moments):
            continue
        times: list[float] = [t for t in moments if t is not None]
        for name, start, end in zip(PARTS, times, times[1:], strict=False):
            out[name].append((end - start) * 1000)
        out["total"].append((times[-1] - times[0]) * 1000)
    return out


def describe(lines: list[dict[str, Any]]) -> str:
    found = parts(lines)
    total = found["total"]
    if not total:
        return "commit parts: no call with every moment"
    cut = _pct(total, 0.99)
    slow = [i for i, t in enumerate(total) if t >= cut]
    text = ", ".join(
        f"{name} {_pct(found[name], 0.5):.1f}/{_pct(found[name], 0.99):.1f}"
        f" (slowest {sum(found[name][i] for i in slow) / len(slow):.1f})"
        for name in PARTS
    )
    return f"commit parts p50/p99 ms, n={len(total)}: {text}"
