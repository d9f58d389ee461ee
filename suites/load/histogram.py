"""Exact, mergeable latency histograms: HdrHistogram in microseconds.

Every load-generator process records each request's latency (µs) into an
HdrHistogram with the same configuration (1 µs to 1 hour, 3 significant digits: a
value is kept to within 0.1 %, so 1.234 ms stays 1.234 ms). Histograms travel
encoded (HdrHistogram's compressed, base64 wire format) and are merged bucket by bucket,
so the merged histogram is exactly the histogram of all requests: its count is the sum
of the workers' counts and its percentiles are those of the pooled requests, never an
average of per-worker percentiles.

``hdrh`` is a small pure-Python package: importing it costs nothing worth avoiding.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
#: The percentiles every summary reports (key suffix -> percentile).
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0,
                                 "p999": 99.9}


def new() -> HdrHistogram:
    """An empty histogram with the one configuration every process uses."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record(hist: HdrHistogram, micros: float, count: int = 1) -> None:
    """Record ``micros`` (clamped into the trackable range)."""
    value = min(max(int(round(micros)), LOWEST_US), HIGHEST_US)
    hist.record_value(value, count)


def encode(hist: HdrHistogram) -> str:
    """The compressed base64 wire form (ASCII text)."""
    data = hist.encode()
    return data.decode("ascii") if isinstance(data, bytes) else str(data)


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode("ascii"))


def merge(encoded: Iterable[str | None]) -> HdrHistogram:
    """Merge encoded histograms exactly (bucket counts add); ``None`` entries are skipped."""
    out = new()
    for item in encoded:
        if item:
            out.add(decode(item))
    return out


def count(hist: HdrHistogram) -> int:
    return int(hist.get_total_count())


def percentile_ms(hist: HdrHistogram, q: float) -> float | None:
    """The ``q``-th percentile in milliseconds, or None for an empty histogram."""
    if not count(hist):
        return None
    return float(hist.get_value_at_percentile(q)) / 1000.0


def summary_ms(hist: HdrHistogram) -> dict[str, Any]:
    """count, min, mean, max and the :data:`PERCENTILES` in milliseconds (None when empty)."""
    n = count(hist)
    out: dict[str, Any] = {"count": n}
    if not n:
        out.update({"min": None, "mean": None, "max": None})
        out.update({key: None for key in PERCENTILES})
        return out
    out["min"] = float(hist.get_min_value()) / 1000.0
    out["mean"] = round(float(hist.get_mean_value()) / 1000.0, 4)
    out["max"] = float(hist.get_max_value()) / 1000.0
    for key, q in PERCENTILES.items():
        out[key] = float(hist.get_value_at_percentile(q)) / 1000.0
    return out


def fraction_between(hist: HdrHistogram, lo_us: int, hi_us: int) -> float:
    """Share of the recorded values within ``[lo_us, hi_us]`` (0 for an empty histogram)."""
    n = count(hist)
    if not n:
        return 0.0
    inside = 0
    for item in hist.get_recorded_iterator():
        if lo_us <= item.value_iterated_to <= hi_us:
            inside += item.count_at_value_iterated_to
    return inside / n


def values_counts(encoded: str) -> tuple[Any, Any]:
    """The recorded values of an encoded histogram in milliseconds (each bucket's highest
    equivalent value, as its percentiles report them) and their counts, as numpy arrays."""
    import numpy as np

    hist = decode(encoded)
    counts = np.ctypeslib.as_array(hist.counts)[: hist.counts_len].astype(np.int64)
    nonzero = np.flatnonzero(counts)
    values = np.array([hist.get_highest_equivalent_value(hist.get_value_from_index(int(i)))
                       for i in nonzero], dtype=float) / 1000.0
    return values, counts[nonzero]
