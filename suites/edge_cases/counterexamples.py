"""Counterexamples as evidence: the shrunk input (sensitive columns masked), the observed
output, the invariant and the seeds, in the evidence ``details`` and saved as
``artifacts/edge_cases/counterexamples/<check>.json``."""

from __future__ import annotations

from typing import Any

from certify.evidence import Artifact
from certify.suite import SuiteContext
from certify.suites.edge_cases.bands import column_bands
from certify.suites.edge_cases.caller import Timeout
from certify.suites.edge_cases.cases import MAX_SHOWN_ROWS, Case, is_marker, json_value
from certify.suites.edge_cases.results import Counterexample, PropertyResult
from certify.suites.edge_cases.settings import EdgeCasesSettings

Context = SuiteContext[EdgeCasesSettings]


def artifact_name(check: str) -> str:
    """Where the counterexample of ``check`` is saved, under the suite's artifact folder."""
    return "counterexamples/" + check.split("::", 1)[1].replace("[", "-").replace("]", "") + \
        ".json"


def hang_violation(hung: Timeout) -> str:
    return f"{hung.method} did not return within {hung.deadline_s:g} s"


def case_json(ctx: Context, case: Case) -> dict[str, Any]:
    """An input as JSON: at most ``MAX_SHOWN_ROWS`` rows, sensitive values masked (markers such
    as NaN, None and +/-inf are shown: they are nobody's value); ``bands``: the decile band of
    each shown value of a sensitive numeric column (:mod:`~certify.suites.edge_cases.bands`),
    so that what changed between rows shows without the values."""
    frame = case.frame
    numeric = [c for c in ctx.sensitive_columns if c in frame.columns and
               c in ctx.data.schema.features and ctx.data.schema.column(c).kind == "numeric"]
    bands = column_bands(ctx.data.reference, numeric)
    shown = frame.head(MAX_SHOWN_ROWS)
    rows = []
    for record in shown.to_dict(orient="records"):
        masked = ctx.mask_record({str(k): v for k, v in record.items()})
        for col in ctx.sensitive_columns:
            if col in record and is_marker(record[col]):
                masked[col] = record[col]
        rows.append({k: json_value(v) for k, v in masked.items()})
    return {"columns": [str(c) for c in frame.columns], "rows": rows, "n_rows": len(frame),
            "notes": list(case.notes), "kinds": sorted(case.kinds),
            "distinct_rows": case.distinct_rows,
            "bands": {c: [b.band(v) for v in shown[c].tolist()] for c, b in bands.items()}}


def counterexample_json(ctx: Context, prop: PropertyResult, cx: Counterexample) -> dict[str, Any]:
    keyword = cx.check.split("::", 1)[1].split("[", 1)[0]
    return {
        "check": cx.check,
        "invariant": cx.invariant,
        "violation": cx.violation,
        "input": case_json(ctx, cx.case),
        "observed": cx.observed,
        "seed": ctx.seed,
        "hypothesis_seed": prop.hypothesis_seed,
        "shrunk": cx.shrunk,
        "reproduce": f"pytest --certify --certify-seed={ctx.seed} -k 'edge_cases and {keyword}'",
    }


def write_counterexample(ctx: Context, prop: PropertyResult,
                         cx: Counterexample) -> tuple[dict[str, Any], Artifact]:
    """Save the counterexample; its JSON (with the artifact's path) and the artifact."""
    data = counterexample_json(ctx, prop, cx)
    artifact = ctx.write_artifact(artifact_name(cx.check), data, f"counterexample of {cx.check}")
    data["artifact"] = artifact.path
    return data, artifact
