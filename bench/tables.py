"""The report's tables as plain data (`Grid`), built from a run's figures and the targets: gateway
against direct and the baseline, the feature costs (control runs), the first byte of a streamed
answer, and the targets' summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.table import Table
from rich.text import Text

from bench.first_byte_rounds import FIRST_BYTE, FirstByteResult
from bench.procs import Interference
from bench.run_result import ScenarioResult
from bench.table_rows import (
    FEATURE_CAPTION,
    FEATURE_ROWS,
    FIRST_BYTE_CAPTION,
    FIRST_BYTE_ROWS,
    FLOOR_CAPTION,
    MAIN_CAPTION,
    ROWS,
    TURNS_CAPTION,
    Row,
)
from bench.targets import Measured, Measurements, Target


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def status(met: bool | None) -> str:
    if met is None:
        return "[dim]not measured[/dim]"
    return "[bold green]met[/bold green]" if met else "[bold red]NOT MET[/bold red]"


def _noise_cell(item: Interference | None) -> str:
    if item is None:
        return "—"
    txt = f"{item.other_cores:.2f}"
    if item.steal_cores >= 0.01:
        txt += f" +{item.steal_cores:.2f} steal"
    return f"[yellow]{txt}[/yellow]" if item.noisy else txt


def _cell(value: float | None, digits: int, signed: bool) -> str:
    if value is None:
        return "—"
    return f"{value:+,.{digits}f}" if signed else _fmt(value, digits)


def _ratio_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


@dataclass(slots=True)
class Grid:
    """A table as plain data (cells may hold rich markup), printed by rich or written as Markdown."""

    title: str
    columns: list[str]
    right: set[str]
    caption: str = ""
    #: Sections (one per scenario) of rows of cells.
    sections: list[list[list[str]]] = field(default_factory=list)

    def rich(self) -> Table:
        table = Table(title=self.title, caption=self.caption or None)
        for col in self.columns:
            table.add_column(col, justify="right" if col in self.right else "left")
        for section in self.sections:
            for row in section:
                table.add_row(*row)
            table.add_section()
        return table

    def markdown(self) -> str:
        def plain(cell: str) -> str:
            return Text.from_markup(cell).plain.replace("|", "\\|")

        align = ["---:" if col in self.right else ":---" for col in self.columns]
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |", "|" + "|".join(align) + "|"]
        for section in self.sections:
            lines += ["| " + " | ".join(plain(c) for c in row) + " |" for row in section]
        if self.caption:
            lines += ["", self.caption]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Section:
    """What one section of a table shows: a scenario's (or the first-byte step's) figures and the
    other load on the machine during each target's runs."""

    name: str
    metrics: dict[str, float]
    noise: dict[str, Interference]

    @classmethod
    def of(cls, result: ScenarioResult) -> Section:
        noise = {t: r.interference for t, r in result.runs.items()}
        return cls(result.scenario.name, result.metrics(), noise)


def _scenario_rows(
    section: Section,
    rows: list[Row],
    columns: tuple[str, ...],
    by_name: Mapping[str, Measured],
    target_for: dict[tuple[str, str], Target],
    *,
    cells: int = 3,
    ratios: int = 2,
    signed_from: int = 3,
) -> list[list[str]]:
    """One scenario's rows: ``cells`` value columns (from ``signed_from`` on always signed: they are
    differences), then ``ratios`` ratio columns; ``columns`` are the runs of the "other load" row."""
    m, name = section.metrics, section.name
    out: list[list[str]] = []
    for row in rows:
        keys = [*row.cells, *([None] * (cells - len(row.cells)))]
        values = [m.get(key) if key else None for key in keys]
        if all(v is None for v in values[: len(columns)]):
            continue
        texts = [
            "" if key is None else _cell(v, row.digits, row.signed or i >= signed_from)
            for i, (key, v) in enumerate(zip(keys, values, strict=True))
        ]
        if row.spread is not None and all(k in m for k in row.spread):
            low, high = (m[k] for k in row.spread)
            texts[-1] += f" ({low:+.{row.digits}f}…{high:+.{row.digits}f})"
        if row.label.startswith("errors"):
            style = "bold red" if any(values) else "green"
            texts = [f"[{style}]{t}[/{style}]" if t else t for t in texts]
        ratio_keys = [*row.ratios, *([None] * (ratios - len(row.ratios)))]
        ratio_texts = [_ratio_cell(m.get(key)) if key else "" for key in ratio_keys]
        if row.ratio_spread is not None and all(k in m for k in row.ratio_spread):
            low, high = (m[k] for k in row.ratio_spread)
            ratio_texts[-1] += f" ({low:.2f}…{high:.2f})"
        target = next((target_for[(name, k)] for k in keys if k and (name, k) in target_for), None)
        target_txt, status_txt = "", ""
        if target is not None:
            _, met = target.evaluate(by_name)
            target_txt, status_txt = target.text(), status(met)
        out.append(["" if out else name, row.label, *texts, *ratio_texts, target_txt, status_txt])
    noise = section.noise
    if noise:
        noise_cells = [_noise_cell(noise.get(t)) for t in columns]
        pad = [""] * (cells + ratios - len(columns))
        out.append(["", "other load (cores)", *noise_cells, *pad, "", ""])
    return out


def grids(measured: Measurements, targets: list[Target]) -> list[Grid]:
    """The report's tables: gateway/direct/baseline, feature costs (control runs), the first byte
    of a streamed answer, targets."""
    results = measured.scenarios
    by_name = measured.by_name()
    target_for = {(t.scenario, t.metric): t for t in targets}
    out: list[Grid] = []

    main = [r for r in results if "control" not in r.runs]
    if main:
        values = ["direct", "baseline", "gateway", "gw/direct", "gw/baseline"]
        grid = Grid(
            "Gateway vs direct (fake upstream) vs baseline (bare aiohttp proxy)",
            ["scenario", "metric", *values, "target", "status"],
            set(values),
            " ".join(
                [
                    MAIN_CAPTION,
                    *([FLOOR_CAPTION] if any("floor" in r.runs for r in main) else []),
                    *([TURNS_CAPTION] if any(r.rounds for r in main) else []),
                ]
            ),
        )
        for result in main:
            grid.sections.append(
                _scenario_rows(
                    Section.of(result), ROWS, ("direct", "baseline", "gateway"), by_name, target_for
                )
            )
        out.append(grid)

    features = [r for r in results if "control" in r.runs]
    if features:
        values = ["without", "with", "with − without", "with/without"]
        grid = Grid(
            "The same gateway process without (control) and with the scenario's settings",
            ["scenario", "metric", *values, "target", "status"],
            set(values),
            FEATURE_CAPTION,
        )
        for result in features:
            rows = _scenario_rows(
                Section.of(result),
                FEATURE_ROWS,
                ("control", "gateway"),
                by_name,
                target_for,
                ratios=1,
                signed_from=2,
            )
            grid.sections.append(rows)
        out.append(grid)

    if measured.first_byte is not None:
        out.append(_first_byte_grid(measured.first_byte, by_name, target_for))

    summary = Grid(
        "Targets",
        ["target", "goal", "measured", "status", "scaled by the baseline", "status (scaled)"],
        {"measured"},
    )
    rows = []
    for target in targets:
        value, met = target.evaluate(by_name)
        scaled = target.evaluate_scaled(by_name)
        scaled_txt, scaled_status = "", ""
        if scaled is not None:
            scaled_txt, scaled_status = scaled.short(), status(scaled.met)
        rows.append([target.label, target.text(), _fmt(value, 3), status(met), scaled_txt, scaled_status])
    summary.sections.append(rows)
    out.append(summary)
    return out


def _first_byte_grid(
    result: FirstByteResult, by_name: Mapping[str, Measured], target_for: dict[tuple[str, str], Target]
) -> Grid:
    values = ["direct", "baseline", "gateway"]
    grid = Grid(
        "First byte of a streamed answer (one connection, streamed and plain requests in turn)",
        ["step", "metric", *values, "target", "status"],
        set(values),
        FIRST_BYTE_CAPTION.format(requests=result.requests),
    )
    section = Section(FIRST_BYTE, result.metrics(), result.interference())
    grid.sections.append(
        _scenario_rows(section, FIRST_BYTE_ROWS, tuple(values), by_name, target_for, ratios=0)
    )
    return grid
