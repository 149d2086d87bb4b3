"""The in-process timings `make bench` prints after its HTTP scenarios (routing decisions, the log
spool): p50 and p99 of a list of samples, and the report's lines with a budget's verdict."""

from __future__ import annotations

import statistics

Figures = dict[str, dict[str, float]]  # label -> {"p50_ms", "p99_ms"}


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples_ms, n=100)
    return {"p50_ms": cuts[49], "p99_ms": cuts[98]}


def budget_lines(
    figures: Figures, count: int, unit: str, budget_ms: float, kept_by: str, what: str, width: int
) -> list[str]:
    """One line per label, then whether `kept_by`'s p50 is within `budget_ms`."""
    shown = [
        f"{label:{width}} p50 {f['p50_ms']:.4f} ms  p99 {f['p99_ms']:.4f} ms  ({count} {unit})"
        for label, f in figures.items()
    ]
    kept = figures[kept_by]["p50_ms"] <= budget_ms
    return [*shown, f"budget: ≤ {budget_ms} ms p50 for {what}: {'met' if kept else 'NOT met'}"]
