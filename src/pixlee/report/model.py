"""What a report is made of: queries and their results, numbers, tables, charts, sections.

Sections are data first and HTML second, so a test (or a notebook) can read every number the
page shows, and the query it came from, without parsing the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # plotly comes with the `report` extra; importing this module needs none
    import plotly.graph_objects as go


@dataclass(frozen=True)
class Query:
    """One SQL statement behind numbers of the report, written in `QUERY_DIALECT` with
    unqualified table names: dlt qualifies them and transpiles to the destination."""

    key: str
    title: str
    sql: str
    tables: tuple[str, ...]


@dataclass
class QueryResult:
    """A query as it ran on the destination: its SQL there (laid out on lines), its rows,
    or why it could not run."""

    query: Query
    executed_sql: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def first(self) -> dict[str, Any]:
        """The one row of an aggregate query ({} when it returned none)."""
        records = self.records()
        return records[0] if records else {}


@dataclass(frozen=True)
class Number:
    """A figure shown beside a chart; `source` names the query it came from."""

    key: str
    label: str
    value: Any
    source: str
    kind: str = "count"  # count | percent | seconds | time | text


@dataclass(frozen=True)
class Table:
    """Rows shown as a table beside a chart (top lists); `source` names their query."""

    key: str
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    source: str
    links: dict[int, int] = field(default_factory=dict)  # column shown -> column holding its URL
    wide: bool = False  # shown under the charts, full width, rather than beside them


@dataclass(frozen=True)
class Chart:
    key: str
    figure: go.Figure
    source: str


@dataclass
class Section:
    key: str
    title: str
    question: str  # the question it answers, in the reader's words
    charts: list[Chart] = field(default_factory=list)
    numbers: list[Number] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    results: list[QueryResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    state_sources: list[str] = field(default_factory=list)  # numbers read outside SQL

    def number(self, key: str) -> Any:
        return next(n.value for n in self.numbers if n.key == key)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def result(self, key: str) -> QueryResult:
        return next(r for r in self.results if r.query.key == key)

    @property
    def missing(self) -> list[str]:
        """Why parts of the section show no data (one line per failed query)."""
        return [f"{r.query.title}: {r.error}" for r in self.results if r.error]


@dataclass
class Report:
    pipeline_name: str
    dataset_name: str
    destination: str
    generated_at: datetime
    as_of: datetime
    as_of_reason: str
    window: str
    sections: list[Section]
    preamble: list[QueryResult] = field(default_factory=list)  # queries that set the frame

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    def queries(self) -> list[QueryResult]:
        return [*self.preamble, *(r for s in self.sections for r in s.results)]
