"""State 3's year as a PDF, in process: ``write_pdf``'s CPU time beside a baseline.

    .venv/bin/python -m bench.extranet.pdf [--rows 28700] [--short 200] [--out /tmp/etat3.pdf]

No database: a synthetic ``Report`` built like state 3's ("appels-incomplets")
year for one antenna: its three summary tables, its chart and its detail of
``--rows`` incomplete calls (9 columns: dates "dd/mm/yyyy hh:mm", antennas,
French names of 15 to 30 characters, kinds, states, the manager who corrected,
"Intervention n"; ``--wordy``: "Corrigée le ... par ..." instead), then
the same report with a short detail (``--short`` rows). Prints the CPU time
(``time.process_time``, the machine is shared) of ``write_pdf`` and, as the
baseline in the same process, of reportlab's bare canvas drawing the same cell
texts at fixed places with no layout (one ``drawString`` per cell, one page a
38 rows); and the load average before and after.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import time
from datetime import UTC, datetime, timedelta

from extranet.stats import cells
from extranet.stats.exports import Heading, _fonts, write_pdf
from extranet.stats.report import Chart, Column, Kind, Report, Row, Table
from extranet.stats.states import INCOMPLETE_DETAIL_COLUMNS

FIRST = [
    "Jean-Marie",
    "Marie-Claude",
    "Françoise",
    "Bernadette",
    "Émilie",
    "Geneviève",
    "Jean-Baptiste",
    "Anne-Sophie",
    "Théo",
    "Léa",
    "Pierre",
    "Hélène",
    "Dominique",
]
LAST = [
    "Dupont",
    "Lefèvre-Martin",
    "de la Fontaine",
    "Moreau",
    "Giraud-Lemoine",
    "Barthélémy",
    "Rousseau",
    "Fontaine-Delacroix",
    "Leclerc",
    "N'Diaye",
    "Benhamou",
]
KINDS = ["Arrivée manquante", "Départ manquant", "Code intervenant manquant"]


def _names(rng: random.Random, n: int) -> list[str]:
    return [f"{rng.choice(LAST).upper()} {rng.choice(FIRST)}" for _ in range(n)]


def state3_report(rows: int, seed: int = 3, wordy: bool = False) -> Report:
    rng = random.Random(seed)
    workers, beneficiaries = _names(rng, 60), _names(rng, 400)
    managers = _names(rng, 4)
    start = datetime(2025, 1, 1, 6, tzinfo=UTC)
    detail = []
    for i in range(rows):
        at = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
        corrected = rng.random() < 0.7
        detail.append(
            Row(
                (
                    at,
                    "Antenne Paris Nord",
                    rng.choice(workers),
                    rng.choice(beneficiaries),
                    rng.choice(KINDS),
                    "Corrigé" if corrected else "À corriger",
                    at + timedelta(hours=rng.randrange(1, 72)) if corrected else None,
                    (
                        f"Corrigée le {at:%d/%m/%Y} par {rng.choice(managers)}"
                        if wordy
                        else rng.choice(managers)
                    )
                    if corrected
                    else "",
                    f"Intervention {9_000_000 + i}",
                )
            )
        )
    counts = (
        Column("Corrigés", Kind.INT),
        Column("À corriger", Kind.INT),
        Column("Total", Kind.INT),
    )
    summary = Table(
        "types", "Par type", (Column("Type"), *counts), [Row((k, 7000, 2500, 9500)) for k in KINDS]
    )
    antennas = Table(
        "antennes",
        "Par antenne",
        (Column("Antenne"), *counts),
        [Row(("Antenne Paris Nord", 20000, 8700, 28700))],
    )
    per_worker = Table(
        "intervenants",
        "Par intervenant",
        (Column("Intervenant"), Column("Antenne"), *counts),
        [Row((w, "Antenne Paris Nord", 300, 100, 400)) for w in workers],
        total=Row(("Total", "", 18000, 6000, 24000)),
    )
    columns = INCOMPLETE_DETAIL_COLUMNS
    table = Table("incomplets", "Détail des appels incomplets", columns, detail)
    months = [f"{m:02d}/2025" for m in range(1, 13)]
    chart = Chart(
        "graphique-incomplets",
        "Appels incomplets dans le temps, par type",
        months,
        [(k, [rng.randrange(500, 1500) for _ in months]) for k in KINDS],
        kind=Kind.INT,
        stacked=True,
        category_label="Période",
    )
    return Report("Appels incomplets", "", [summary, antennas, per_worker, table], [chart])


def heading() -> Heading:
    return Heading(
        "Paris Domicile",
        "Appels incomplets",
        "année 2025",
        [("Antenne", "Antenne Paris Nord")],
        datetime(2026, 1, 5, 9, tzinfo=UTC),
    )


def write(report: Report) -> tuple[float, bytes]:
    out = io.BytesIO()
    began = time.process_time()
    write_pdf(report, heading(), out)
    return time.process_time() - began, out.getvalue()


def baseline(report: Report) -> float:
    """reportlab's canvas drawing the detail's cell texts, no layout at all."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    regular, _bold = _fonts()
    table = report.tables[-1]
    began = time.process_time()
    canvas = Canvas(io.BytesIO(), pagesize=landscape(A4))
    canvas.setFont(regular, 7)
    width = (landscape(A4)[0] - 68) / len(table.columns)
    for i, row in enumerate(table.rows):
        y = 550 - (i % 38) * 13.5
        for j, (value, column) in enumerate(zip(row.values, table.columns, strict=True)):
            canvas.drawString(34 + j * width, y, cells.screen_text(value, column.kind.value))
        if i % 38 == 37:
            canvas.showPage()
            canvas.setFont(regular, 7)
    canvas.save()
    return time.process_time() - began


def pages(data: bytes) -> int:
    return data.count(b"/Type /Page\n") or data.count(b"/Type /Page ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=28_700)
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--out", default="")
    parser.add_argument(
        "--wordy",
        action="store_true",
        help='"Par" as "Corrigée le dd/mm/yyyy par NOM Prénom" (rows of 4 lines)',
    )
    args = parser.parse_args()
    _fonts()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, n in (("year", args.rows), ("short", args.short)):
        report = state3_report(n, wordy=args.wordy)
        spent, data = write(report)
        base = baseline(report)
        print(
            f"{label}: {n} detail rows: write_pdf {spent:.2f} s CPU, {len(data) // 1024} KiB, "
            f"{pages(data)} pages; baseline (bare canvas, same texts) {base:.2f} s CPU"
        )
        if args.out and label == "year":
            with open(args.out, "wb") as f:
                f.write(data)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
