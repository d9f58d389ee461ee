"""The inputs: hypothesis strategies derived from the data's schema.

The valid part of a frame is reference rows with a quarter of their cells redrawn from the
schema (two hypothesis draws per frame: cheap); the unusual values are hypothesis draws of
their own (at least one per frame of a cell-kind stratum), which the shrinker removes when a
failure does not need them. Built inside ``run`` (hypothesis is imported lazily).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from certify.data import ColumnSchema, Dataset
from certify.suites.edge_cases.bands import Bands, column_bands
from certify.suites.edge_cases.cases import EXTRA_COLUMN, Case, is_marker, py_value, show, tile
from certify.suites.edge_cases.settings import (
    CELL_KINDS,
    FRAME_KINDS,
    POLICY_KEYS,
    EdgeCasesSettings,
)

#: Past float32's range (3.4e38): infinite in float32.
FLOAT64_MAX = float(np.finfo(np.float64).max)

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn, SearchStrategy


class InputGenerator:
    """Hypothesis strategies derived from the schema (built inside ``run``)."""

    def __init__(self, data: Dataset, settings: EdgeCasesSettings,
                 sensitive: Iterable[str]) -> None:
        from hypothesis import strategies as st

        self.st = st
        self.settings = settings
        self.schema = data.schema
        self.features = list(self.schema.features)
        self.sensitive = set(sensitive)
        reference = data.reference
        self.empty = reference[self.features].iloc[:0].copy()
        self.pool = reference[self.features].reset_index(drop=True)
        self.valid: dict[str, SearchStrategy[Any]] = {}
        self.edges: dict[str, dict[str, SearchStrategy[Any]]] = {}
        self.ranges: dict[str, tuple[float, float, bool]] = {}
        self._cache: dict[tuple[str, int], SearchStrategy[Case]] = {}
        self.categories: dict[str, list[Any]] = {}
        for col in self.schema.columns:
            self._column(col, reference[col.name])
        self.enabled = {kind for kind, key in POLICY_KEYS.items()
                        if getattr(settings, key) != "skip"}
        #: Decile bands of the sensitive numeric columns (what a masked value did).
        self.bands: dict[str, Bands] = column_bands(
            reference, [c for c in self.features if c in self.sensitive and c in self.ranges])

    # per column -----------------------------------------------------------------------
    def _column(self, col: ColumnSchema, series: pd.Series) -> None:
        st = self.st
        name = col.name
        observed = [py_value(v) for v in series.dropna().unique()[:200]]
        edges: dict[str, SearchStrategy[Any]] = {}
        valid: SearchStrategy[Any]
        if col.kind == "numeric":
            lo = col.min if col.min is not None else float(min(observed, default=0.0))
            hi = col.max if col.max is not None else float(max(observed, default=1.0))
            integer = str(col.dtype).startswith(("int", "uint"))
            self.ranges[name] = (float(lo), float(hi), integer)
            if integer and math.floor(hi) >= math.ceil(lo):
                valid = st.integers(math.ceil(lo), math.floor(hi))
            elif hi > lo:
                valid = st.one_of(st.sampled_from([lo, hi]),
                                  st.floats(lo, hi, allow_nan=False, allow_infinity=False))
            else:
                valid = st.just(lo)
            span = max(hi - lo, 1.0)
            outside: list[float] = [lo - 0.01 * span, hi + 0.01 * span, lo - span, hi + span,
                                    0.0, -1.0, -abs(hi) - 1.0, 1e9, -1e9]
            if integer:
                outside += [int(lo) - 1, int(hi) + 1, -1, 10**9, -(10**9)]
            # outside the observed range only; smallest magnitude first (shrinks there)
            values = sorted({v for v in outside if not lo <= v <= hi},
                            key=lambda v: (abs(v), isinstance(v, float), v))
            edges["out_of_range"] = st.sampled_from(values)
            # Magnitudes past float32's range are infinite to the many models that compute in
            # float32 (scikit-learn's trees, ONNX, torch): judged as infinities (on_inf), not as
            # out-of-range numbers a model must predict.
            edges["inf"] = st.sampled_from([math.inf, -math.inf, 1e300, -1e300, FLOAT64_MAX,
                                            -FLOAT64_MAX])
            edges["wrong_dtype"] = st.sampled_from(["abc", "", "ten", "1e3"])
        else:
            categories = list(col.categories) if col.categories else observed
            categories = categories or ["a"]
            self.categories[name] = list(categories)
            valid = st.sampled_from(categories)
            if col.kind == "boolean":
                edges["wrong_dtype"] = st.sampled_from(["yes", 2])
            elif all(isinstance(c, int | float) and not isinstance(c, bool) for c in categories):
                top = max(categories)
                edges["unseen_category"] = st.sampled_from(
                    [v for v in (top + 1, -1, top + 1000) if v not in categories])
                edges["wrong_dtype"] = st.sampled_from(["abc", ""])
            else:
                text = [str(c) for c in categories]
                unseen = ["", "__unseen__", "UNSEEN", *(f" {t}" for t in text[:2]),
                          *(t.upper() for t in text[:2])]
                edges["unseen_category"] = st.sampled_from(
                    [u for u in dict.fromkeys(unseen) if u not in text])
                edges["wrong_dtype"] = st.sampled_from([0, 1.5, -1])
        if not col.nullable:
            edges["nan"] = st.sampled_from([math.nan, None])
        self.valid[name] = valid
        self.edges[name] = edges

    def note(self, column: str, kind: str, value: Any) -> str:
        label = kind.replace("_", " ")
        if column in self.sensitive and not is_marker(value):
            band = self.bands.get(column)
            return f"{column}=<masked{': ' + band.band(value) if band else ''}> ({label})"
        return f"{column}={show(value)} ({label})"

    # frames -----------------------------------------------------------------------------
    def strata(self, kinds: set[str], *, large: bool = True) -> list[str]:
        """The input kinds one property covers, each its own hypothesis run: ``valid``,
        ``large_batch``, then every enabled kind of ``kinds`` that some column can take."""
        out = ["valid"]
        if large and self.settings.large_batch:
            out.append("large_batch")
        out += [k for k in CELL_KINDS if k in kinds and k in self.enabled
                and any(k in self.edges[c] for c in self.features)]
        out += [k for k in FRAME_KINDS if k in kinds and k in self.enabled]
        return out

    def cases(self, stratum: str, *, min_rows: int = 1) -> SearchStrategy[Case]:
        """Frames of one stratum. A cell-kind stratum has at least one such cell (the first
        column that can take it, row 0, once shrunk); other cells take it half the time."""
        key = (stratum, min_rows)
        if key not in self._cache:  # hypothesis reads a composite's source when it is built
            self._cache[key] = self._cases(stratum, min_rows)
        return self._cache[key]

    def _cases(self, stratum: str, min_rows: int) -> SearchStrategy[Case]:
        st = self.st
        if stratum == "empty_batch":
            return st.just(Case(self.empty.copy(), frozenset({"empty_batch"}), ["empty batch"]))
        edge_kind = stratum if stratum in CELL_KINDS else None
        able = [c for c in self.features if edge_kind in self.edges[c]] if edge_kind else []

        @st.composite
        def draw_case(draw: DrawFn) -> Case:
            frame = draw(self.rows(min_rows, self.settings.max_rows))
            n = len(frame)
            found: set[str] = set()
            notes: list[str] = []
            # In a cell-kind stratum: at least one unusual value (the first column that can
            # take one, row 0, once shrunk) and a few more; each is a hypothesis draw, so the
            # shrinker removes those a failure does not need.
            if able:
                forced = (draw(st.sampled_from(able)), draw(st.integers(0, n - 1)))
                more = draw(st.lists(st.tuples(st.sampled_from(able), st.integers(0, n - 1)),
                                     max_size=n + 2))
                edits: dict[str, dict[int, Any]] = {}
                for column, row in [forced, *more]:
                    value = draw(self.edges[column][stratum])
                    edits.setdefault(column, {})[row] = value
                    found.add(stratum)
                    notes.append(self.note(column, stratum, value))
                for column, changes in edits.items():
                    values = frame[column].tolist()
                    for row, value in changes.items():
                        values[row] = value
                    series = pd.Series(values, dtype=object)
                    # numeric columns take the dtype their values allow; categorical ones
                    # stay object, as in the data (an all-NaN column must not turn float)
                    frame[column] = series.infer_objects() if column in self.ranges else series
            distinct = None
            if stratum == "large_batch":
                frame = tile(frame, self.settings.large_batch)
                distinct = n
                notes.append(f"large batch of {len(frame)} rows ({n} distinct, repeated)")
            elif stratum == "missing_column":
                drop = draw(st.sampled_from(self.features))
                frame = frame.drop(columns=[drop])
                found.add(stratum)
                notes.append(f"column {drop!r} missing")
            elif stratum == "extra_column":
                at = draw(st.integers(0, len(self.features)))
                value = draw(st.sampled_from([0, 1.5, "x"]))
                frame.insert(at, EXTRA_COLUMN, [value] * len(frame))
                found.add(stratum)
                notes.append(f"extra column {EXTRA_COLUMN!r} at position {at}")
            elif stratum == "reordered_columns":
                order = list(draw(st.permutations(self.features)))
                if order == self.features:
                    order = order[1:] + order[:1]
                frame = frame[order]
                found.add(stratum)
                notes.append("columns reordered: " + ", ".join(order))
            return Case(frame, frozenset(found), notes, distinct)

        return draw_case()

    def rows(self, min_rows: int, max_rows: int) -> SearchStrategy[pd.DataFrame]:
        """Valid rows: reference rows, a quarter of their cells replaced by values drawn from
        the schema (within the observed ranges, the bounds themselves, known categories).

        Two hypothesis draws (row count, seed) whatever the size: valid filler is cheap to
        generate, and the unusual values a check is about stay separate draws that shrink.
        """
        st = self.st

        def frame(drawn: tuple[int, int]) -> pd.DataFrame:
            return self.background(*drawn)

        return st.tuples(st.integers(min_rows, max_rows), st.integers(0, 2**32 - 1)).map(frame)

    def background(self, n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        frame = self.pool.iloc[rng.integers(0, len(self.pool), n)].reset_index(drop=True)
        for column in self.features:
            replace = rng.random(n) < 0.25
            if not replace.any():
                continue
            if column in self.ranges:
                lo, hi, integer = self.ranges[column]
                if integer and math.floor(hi) < math.ceil(lo):
                    continue
                if integer:
                    fresh: np.ndarray = rng.integers(math.ceil(lo), math.floor(hi) + 1, n)
                else:
                    fresh = rng.uniform(lo, hi, n)
                    bound = rng.random(n) < 0.2
                    fresh[bound] = np.where(rng.random(int(bound.sum())) < 0.5, lo, hi)
                values = frame[column].to_numpy().copy()
                if integer and values.dtype.kind in "iu":
                    values[replace] = fresh[replace]
                else:
                    values = values.astype(float)
                    values[replace] = fresh[replace]
                frame[column] = values
            elif self.categories.get(column):
                choices = self.categories[column]
                values = frame[column].to_numpy(dtype=object).copy()
                picks = rng.integers(0, len(choices), int(replace.sum()))
                values[replace] = [choices[i] for i in picks]
                frame[column] = pd.Series(values, dtype=object)
        return frame

    def values_of(self, column: str, max_size: int) -> SearchStrategy[list[Any]]:
        """2..max_size distinct valid values of ``column`` (sorted for numbers)."""
        values = self.st.lists(self.valid[column], min_size=2, max_size=max_size, unique_by=repr)
        return values.map(sorted) if column in self.ranges else values
