"""``drift::schema``'s findings: the new data's columns, kinds and dtypes against the baseline's.

A column's kind is the declared one when the policy declares it (``[data.columns.<name>]
kind``): the declaration applies to the reference and to the new data alike, so a
numeric-coded column declared categorical stays categorical whatever dtype its values are
read with. An undeclared column's kind follows its dtype, as when the schema was inferred.
Numeric columns get a KS test and categorical and boolean ones are counted, so only a change
between those two groups changes the test; a dtype change within a kind is reported as such.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from certify.suites.drift.baseline import DriftBaseline, FeatureRef
from certify.suites.drift.columns import numeric_values
from certify.suites.drift.result import SchemaCheck, TypeChange, kind_group
from certify.suites.drift.sources import Source


def kind_of(dtype: str) -> str:
    """The kind a column of this dtype is inferred as (:func:`certify.data.infer_column`)."""
    if dtype in ("bool", "boolean"):
        return "boolean"
    try:
        return "numeric" if pd.api.types.is_numeric_dtype(np.dtype(dtype)) else "categorical"
    except TypeError:
        return "numeric" if dtype.lower().startswith(("int", "uint", "float")) else "categorical"


def declared(ref: FeatureRef) -> bool:
    """Whether the policy declared the column's kind. A version-1 baseline does not record it;
    a reference kind its dtype would not give can only have been declared."""
    return ref.declared or kind_group(ref.kind) != kind_group(kind_of(ref.dtype))


def _change(ref: FeatureRef, dtype: str, series: pd.Series) -> TypeChange:
    is_declared = declared(ref)
    kind = ref.kind if is_declared else kind_of(dtype)
    kind_changed = kind_group(kind) != kind_group(ref.kind)
    was = f"{ref.kind} ({ref.dtype})"
    now = f"{kind} ({dtype})"
    label = f"'{ref.name}'" + (f" (declared {ref.kind})" if is_declared else "")
    testable = True
    if kind_group(ref.kind) == "numeric" and kind_group(kind_of(dtype)) != "numeric":
        _, n_bad, _ = numeric_values(series)
        testable = n_bad == 0
        if not testable:
            what = (f"kind {was} → {now}" if kind_changed else f"dtype {ref.dtype} → {dtype}")
            change = f"{label}: {what}: {n_bad} of {len(series)} values are not numbers"
        elif kind_changed:
            change = (f"{label}: kind {was} → {now}; its values still read as numbers "
                      "(tested as numbers, as in the reference)")
        else:
            change = (f"{label}: dtype {ref.dtype} → {dtype}; its values still read as numbers "
                      "(kind unchanged)")
    elif kind_changed:
        change = (f"{label}: kind {was} → {now}; tested as categories, as in the reference "
                  "(values as text)")
    else:
        change = f"{label}: dtype {ref.dtype} → {dtype}, kind {ref.kind} unchanged"
    return TypeChange(column=ref.name, reference_kind=ref.kind, reference_dtype=ref.dtype,
                      kind=kind, dtype=dtype, declared=is_declared, testable=testable,
                      change=change)


def check_schema(baseline: DriftBaseline, source: Source) -> SchemaCheck:
    """Missing and extra columns, and the monitored columns whose kind or dtype changed."""
    manifest = baseline.manifest
    schema = manifest.schema_
    known = set(schema.features) | {schema.target}
    out = SchemaCheck()
    out.missing = [f for f in schema.features if f not in source.columns]
    out.extra = [c for c in source.columns if c not in known]
    for ref in manifest.features:
        if ref.name not in source.columns:
            continue
        dtype = source.dtype(ref.name)
        if dtype == ref.dtype:
            continue
        series = source.series(ref.name)
        if series.isna().all():
            continue  # an all-missing column: reported by its missing-value rate
        out.dtype_changes.append(_change(ref, dtype, series))
    return out
