"""What a statistics state computes: plain tables and charts, before any format.

The page (HTML), the CSV, the XLSX and the PDF are four renderings of one
``Report``: a column's ``Kind`` says how each format writes its values, so a
figure cannot read one way on the screen and another in a file.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

Value = str | int | float | date | datetime | timedelta | None


class Kind(enum.StrEnum):
    TEXT = "text"
    INT = "int"
    #: Minutes (int) shown as minutes.
    MINUTES = "minutes"
    #: Minutes (int) shown as hours: "12 h 05" on screen, decimal hours in CSV, [h]:mm in XLSX.
    HOURS = "hours"
    #: A percentage (float, 0 to 100).
    PERCENT = "percent"
    DATE = "date"
    #: A UTC instant, shown in Europe/Paris.
    DATETIME = "datetime"
    #: A delay (timedelta).
    DELAY = "delay"

    @property
    def numeric(self) -> bool:
        return self not in (Kind.TEXT, Kind.DATE, Kind.DATETIME)


@dataclass(frozen=True)
class Column:
    label: str
    kind: Kind = Kind.TEXT


#: A row without links or attributes (a file's): one shared empty mapping.
NOTHING: Mapping[Any, str] = MappingProxyType({})


class Row(NamedTuple):
    """A table's row. A named tuple, not a dataclass: a year's visits are 540,000 rows,
    and a frozen dataclass with two fresh dicts each took twice as long to build."""

    values: tuple[Value, ...]
    #: Column index -> URL (links down to the visits, the people, the calls).
    links: Mapping[int, str] = NOTHING
    #: Attributes of the row's <tr> (data-*), for readers of the page.
    attrs: Mapping[str, str] = NOTHING


@dataclass(frozen=True)
class Table:
    #: HTML id, also the XLSX sheet's origin.
    key: str
    caption: str
    columns: tuple[Column, ...]
    rows: list[Row]
    total: Row | None = None
    empty: str = "Aucune donnée pour ces filtres."
    #: Rows shown on the page at most (files have them all).
    page_limit: int = 2000
    #: Rows in all when ``rows`` holds only the first of them (a page's detail); None: all listed.
    count: int | None = None
    #: Rows a PDF lists at most, the total still over all, with a sentence saying where the
    #: others are (state 0's year is 540,000 visits, 10,000 pages); None: every row.
    pdf_limit: int | None = None

    @property
    def rows_in_all(self) -> int:
        return len(self.rows) if self.count is None else self.count


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    #: The x axis: months, age bands, days...
    categories: list[str]
    #: (series name, one value per category): minutes for HOURS, counts for INT.
    series: list[tuple[str, list[int]]]
    kind: Kind = Kind.HOURS
    stacked: bool = False
    #: The first column's heading in the data table.
    category_label: str = ""

    @property
    def unit(self) -> str:
        return "heures" if self.kind is Kind.HOURS else "nombre"

    def table(self) -> Table:
        """The chart's data, for screen readers and for the files."""
        columns = (
            Column(self.category_label or "Catégorie"),
            *(Column(name, self.kind) for name, _ in self.series),
        )
        rows = [
            Row((category, *(values[i] for _name, values in self.series)))
            for i, category in enumerate(self.categories)
        ]
        return Table(f"{self.key}-donnees", f"Données du graphique : {self.title}", columns, rows)


@dataclass
class Report:
    title: str
    #: One line under the title: what the figures are and where they come from.
    note: str
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    #: A message instead of figures (e.g. "choose a beneficiary").
    prompt: str = ""
    #: When the figures were computed (a page may show a cached report).
    computed_at: datetime | None = None
