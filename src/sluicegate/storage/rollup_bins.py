"""The roll-ups' geometry, the same for SQLite and PostgreSQL so both align buckets alike: the
widths, the latency histogram's bins, how a range is cut into pieces (`cover`) and how
percentiles are read off a histogram (`ranks`)."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate

from sluicegate.analytics import PERCENTILES, Latency

WIDTHS = (86400, 3600, 60)  # rollup widths, widest first; each divides the one before
BINS_PER_E = 20  # histogram bins per factor e of latency
SEMANTIC_HIT_COLUMN = "semantic_hit"  # counted once the semantic cache adds it to `logs` (0/1)
# How long minute and hour rows are kept (seconds of age; the retention pass deletes older ones).
# Day rows are kept for ever: they hold the totals of deleted records' traffic. Older ranges are
# answered from the next wider rows (`finest_width`; docs/analytics.md).
KEPT_SECONDS = {60: 8 * 86400, 3600: 92 * 86400}


def kept_from(width: int, now: float) -> int:
    """The oldest start of `width`'s rows kept at `now`: the age cut, aligned down to the next wider
    width, so where these rows end the wider ones cover whole buckets. A later `now` never asks
    for rows an earlier pass deleted."""
    wider = WIDTHS[WIDTHS.index(width) - 1]
    return int(math.floor((now - KEPT_SECONDS[width]) / wider) * wider)


def finest_width(at: float, now: float) -> int:
    """The narrowest width whose rows still cover the time `at` (epoch seconds) at `now`."""
    for width in reversed(WIDTHS[1:]):  # minute, then hour
        if at >= kept_from(width, now):
            return int(width)
    return WIDTHS[0]


def bin_ms(bin_: int) -> float:
    return math.exp((bin_ + 0.5) / BINS_PER_E) / 100


def cover(since: float, until: float, widths: Sequence[int]) -> list[tuple[int, float, float]]:
    """`[since, until)` as pieces (width, start, end): whole rows of the widest width that fits,
    the ends from narrower widths, and width 0 (the logs) for what is left under the narrowest."""
    if since >= until:
        return []
    if not widths:
        return [(0, since, until)]
    width, narrower = widths[0], widths[1:]
    first, last = math.ceil(since / width) * width, math.floor(until / width) * width
    if first >= last:
        return cover(since, until, narrower)
    return [*cover(since, first, narrower), (width, first, last), *cover(last, until, narrower)]


def ranks(histogram: Counter[int], bounds: tuple[float, float]) -> Latency:
    """Nearest-rank percentiles of a histogram (bin → count)."""
    cells = sorted(histogram.items())
    cumulative = list(accumulate(n for _, n in cells))
    count, (low, high) = cumulative[-1], bounds
    values = {}
    for name, p in PERCENTILES.items():
        rank = max(1, math.ceil(p * count - 1e-9))  # the tolerance keeps 0.95 × 20 at 19
        values[name] = min(max(bin_ms(cells[bisect_left(cumulative, rank)][0]), low), high)
    return Latency(requests=count, **values)
