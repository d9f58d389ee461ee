"""The drift baseline: what the drift detectors need, saved as a versioned directory.

The ``drift`` suite fits its detectors on the reference data and writes them into the run
folder as ``drift-baseline/``; the certificate carries the directory's digest
(:func:`certify.outputs.directory_digest`) as a subject, so that ``certify drift`` checks
production data against exactly the certified baseline.

Layout (format ``certify-drift-baseline``, version :data:`FORMAT_VERSION`)::

    drift-baseline/
      manifest.json            everything below, the sha256 of every other file, and an
                               integrity digest of the manifest itself
      features/NNN.npy         one non-sensitive numeric column: a seeded sample of at most
                               ``reference_sample`` non-missing values, sorted (KS test)
      prediction/scores-K.npy  the candidate's scores on a seeded sample of reference rows,
                               sorted (probability of class K, or the predictions of a
                               regressor)
      target/values.npy        regression only: a sorted sample of the target
      mmd/x_ref.npy            only with ``mmd = true``: a seeded joint sample of at most
                               ``mmd_sample`` rows of the non-sensitive columns, standardised

What is never stored: raw rows (alibi-detect's ``save_detector`` would store the whole
reference matrix), and any raw value of a sensitive column. A sensitive numeric column is
kept as counts over quantile ranges whose edges are rounded to two significant digits;
a sensitive categorical column as counts per hashed category (``sha256:`` prefix, as
``SuiteContext.mask`` writes them); with ``sensitive = "drop"`` neither is kept.
Categorical columns are category counts over the whole reference data. The manifest's
``stored`` list says all of this in words, per column.

Integrity: :func:`load_baseline` refuses a directory whose files do not match the
manifest's digests (a file changed, added or removed) or whose manifest does not match its
own integrity digest; with ``expected_digest`` (the certificate's subject) it also refuses a
directory whose digest differs. Without a certificate this detects corruption and careless
edits, not a deliberate forgery: only the signed digest proves where a baseline came from.
Arrays are read with ``allow_pickle=False``: loading a baseline never runs code.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certify.data import Schema
from certify.errors import VerificationError
from certify.evidence import Threshold
from certify.outputs import atomic_write, directory_digest, directory_manifest

FORMAT: Final = "certify-drift-baseline"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: The count of the categories beyond ``max_categories`` (a lumped column).
OTHER = "<other>"


class DriftBaselineError(VerificationError):
    """A drift baseline that must not be used: missing, unreadable, tampered, or not certified.

    ``reason`` is one of ``missing``, ``unreadable``, ``format``, ``version``, ``tampered``,
    ``digest-mismatch``.
    """


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DetectorParams(_Strict):
    """The thresholds the detectors judge with (copied from the policy at fit time)."""

    p_value: Threshold = Field(description="Levels for the corrected p-values (fail, warn).")
    correction: Literal["bonferroni", "fdr"] = "bonferroni"
    min_effect: float = 0.0
    min_rows: int = 30
    null_rate_increase: Threshold = Threshold(fail=0.2, warn=0.05)
    mmd_permutations: int = 200


class FeatureRef(_Strict):
    """One feature column's reference, and the test it gets."""

    name: str
    kind: Literal["numeric", "categorical", "boolean"]
    dtype: str
    test: Literal["ks", "chi2"]
    storage: Literal["sorted_sample", "counts", "hashed_counts", "binned_counts"]
    sensitive: bool = False
    rows: int
    nulls: int
    file: str | None = None
    stored_values: int = 0
    summary: dict[str, float | None] = Field(default_factory=dict)
    counts: dict[str, int] | None = None
    #: Only the most frequent categories are kept; the rest are counted under OTHER.
    lumped: bool = False
    edges: list[float] | None = None
    bin_counts: list[int] | None = None

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0


class PredictionRef(_Strict):
    """The candidate's behaviour on the reference rows (model-based detector)."""

    model_name: str
    model_digest: str
    model_format: str
    trusted_types: list[str] = Field(default_factory=list)
    task: Literal["classification", "regression"]
    classes: list[Any] | None = None
    score_labels: list[str] = Field(description="Class of each score file ('prediction' "
                                                "for a regressor).")
    files: list[str]
    label_counts: dict[str, int] | None = None
    rows: int


class TargetRef(_Strict):
    name: str
    kind: Literal["categorical", "numeric"]
    rows: int
    counts: dict[str, int] | None = None
    file: str | None = None


class MMDRef(_Strict):
    numeric: list[str]
    means: list[float]
    stds: list[float]
    categorical: dict[str, list[str]]
    sigma: float
    file: str
    rows: int


class Manifest(_Strict):
    format: Literal["certify-drift-baseline"] = FORMAT
    format_version: int = FORMAT_VERSION
    harness_version: str
    seed: int
    reference_rows: int
    reference_digest: str | None = None
    schema_: Schema = Field(alias="schema")
    sensitive_columns: list[str]
    sensitive_handling: Literal["binned", "drop"]
    not_monitored: dict[str, str] = Field(default_factory=dict,
                                          description="Feature -> why it has no detector.")
    params: DetectorParams
    features: list[FeatureRef]
    prediction: PredictionRef | None = None
    target: TargetRef | None = None
    mmd: MMDRef | None = None
    stored: list[str] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    integrity: str = ""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def canonical(self) -> bytes:
        body = self.model_dump(mode="json", by_alias=True, exclude={"integrity"})
        return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()

    def seal(self) -> None:
        self.integrity = "sha256:" + hashlib.sha256(self.canonical()).hexdigest()


@dataclass
class FitOptions:
    """How to fit (from the suite's settings)."""

    reference_sample: int = 10000
    sensitive: Literal["binned", "drop"] = "binned"
    sensitive_bins: int = 10
    features: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    prediction: bool = True
    target: bool = True
    mmd: bool = False
    mmd_sample: int = 500
    max_categories: int = 100
    positive_label: Any = None


@dataclass
class DriftBaseline:
    """A fitted baseline: the manifest plus its arrays (path -> array), in memory."""

    manifest: Manifest
    arrays: dict[str, np.ndarray]
    path: Path | None = None
    digest: str | None = None

    def array(self, rel: str | None) -> np.ndarray:
        if rel is None or rel not in self.arrays:
            raise DriftBaselineError("format", f"drift baseline: array {rel!r} is missing")
        return self.arrays[rel]

    # -- writing -------------------------------------------------------------------------
    def save(self, directory: Path) -> str:
        """Write the baseline into ``directory`` (created; must be empty); returns its digest."""
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise DriftBaselineError("format", f"{directory}: not empty; refusing to write a "
                                               "drift baseline over other files")
        files: dict[str, str] = {}
        for rel, array in sorted(self.arrays.items()):
            target = directory / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as fh:
                np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
            files[rel] = hashlib.sha256(target.read_bytes()).hexdigest()
        self.manifest.files = files
        self.manifest.seal()
        text = json.dumps(self.manifest.model_dump(mode="json", by_alias=True), indent=2,
                          allow_nan=False) + "\n"
        atomic_write(directory / MANIFEST, text, mode=0o644)
        self.path = directory
        self.digest = directory_digest(directory)
        return self.digest


# -- categories, hashing, binning -------------------------------------------------------------

def category_key(value: Any) -> str:
    """The key a category is counted under: its text (``1.0`` and ``1`` are the same)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def hash_key(key: str) -> str:
    """A sensitive category as written: ``sha256:`` and 12 hex digits (as ``ctx.mask``)."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def count_categories(values: pd.Series, *, hashed: bool = False) -> dict[str, int]:
    counts = values.value_counts(dropna=True, sort=False)
    out: dict[str, int] = {}
    for value, n in counts.items():
        key = category_key(value)
        if hashed:
            key = hash_key(key)
        out[key] = out.get(key, 0) + int(n)
    return out


def coarse_edges(values: np.ndarray, bins: int) -> list[float]:
    """Quantile edges rounded to two significant digits (never an individual's exact value)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return []
    qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    return sorted({float(f"{q:.2g}") for q in qs})


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts over ``(-inf, e0), [e0, e1), ..., [e_last, inf)`` of the non-missing values."""
    present = values[~np.isnan(values)]
    idx = np.searchsorted(np.asarray(edges, dtype=float), present, side="right")
    return np.bincount(idx, minlength=len(edges) + 1)


def numeric_values(series: pd.Series) -> tuple[np.ndarray | None, int, Any]:
    """``(float values with NaN for missing, count of non-numbers, an example non-number)``.

    ``None`` when the column cannot be read as numbers at all.
    """
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan), 0, None
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan), 0, None
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    n_bad = int(bad.sum())
    example = series[bad].iloc[0] if n_bad else None
    return converted.to_numpy(dtype=float, na_value=np.nan), n_bad, example


def _summary(values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {}
    q = np.quantile(finite, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"mean": float(finite.mean()), "std": float(finite.std()), "p05": float(q[0]),
            "p25": float(q[1]), "p50": float(q[2]), "p75": float(q[3]), "p95": float(q[4])}


def feature_plan(schema: Schema, sensitive: list[str], options: FitOptions
                 ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``([(feature, test)], {feature: why not monitored})`` in schema order.

    Shared by the suite's planning (check ids) and by :func:`fit_baseline`.
    """
    wanted = options.features if options.features is not None else schema.features
    unknown = [f for f in [*wanted, *options.exclude] if f not in schema.features]
    if unknown:
        from certify.errors import ConfigError

        raise ConfigError(f"suites.drift: '{unknown[0]}' is not a feature column "
                          f"(features: {', '.join(schema.features)})")
    plan: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    for col in schema.columns:
        if col.name not in wanted or col.name in options.exclude:
            skipped[col.name] = "excluded by suites.drift.features/exclude"
            continue
        is_sensitive = col.name in sensitive
        if is_sensitive and options.sensitive == "drop":
            skipped[col.name] = "sensitive column, dropped (suites.drift.sensitive = 'drop')"
            continue
        test = "ks" if col.kind == "numeric" and not is_sensitive else "chi2"
        plan.append((col.name, test))
    return plan, skipped


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _sorted_sample(values: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) > limit:
        values = values[rng.choice(len(values), size=limit, replace=False)]
    return np.sort(values.astype(np.float64))


def fit_baseline(reference: pd.DataFrame, schema: Schema, *, sensitive: list[str], seed: int,
                 options: FitOptions, params: DetectorParams, harness_version: str,
                 model: Any = None, trusted_types: list[str] | None = None,
                 reference_digest: str | None = None) -> DriftBaseline:
    """Fit every detector's reference on ``reference`` (the candidate ``model`` for prediction)."""
    plan, not_monitored = feature_plan(schema, sensitive, options)
    arrays: dict[str, np.ndarray] = {}
    stored: list[str] = []
    features: list[FeatureRef] = []
    n = len(reference)
    for index, (name, test) in enumerate(plan):
        col = schema.column(name)
        series = reference[name]
        nulls = int(series.isna().sum())
        is_sensitive = name in sensitive
        ref = FeatureRef(name=name, kind=col.kind, dtype=str(series.dtype), test=test,
                         storage="counts", sensitive=is_sensitive, rows=n, nulls=nulls)
        if test == "ks":
            values, _, _ = numeric_values(series)
            assert values is not None
            present = values[~np.isnan(values)]
            sample = _sorted_sample(present, options.reference_sample, _rng(seed, 1, index))
            rel = f"features/{index:03d}.npy"
            arrays[rel] = sample
            ref.storage, ref.file, ref.stored_values = "sorted_sample", rel, len(sample)
            ref.summary = _summary(present)
            stored.append(f"{name}: {len(sample)} of {len(present)} non-missing values "
                          "(seeded sample, sorted, not linked to rows)")
        elif is_sensitive and col.kind == "numeric":
            values, _, _ = numeric_values(series)
            assert values is not None
            edges = coarse_edges(values, options.sensitive_bins)
            ref.storage, ref.edges = "binned_counts", edges
            ref.bin_counts = [int(c) for c in bin_counts(values, edges)]
            stored.append(f"{name} (sensitive): counts over {len(edges) + 1} quantile ranges "
                          "with edges rounded to 2 significant digits; no raw values")
        else:
            ref.storage = "hashed_counts" if is_sensitive else "counts"
            counts = count_categories(series, hashed=is_sensitive)
            kind = f"{'hashed ' if is_sensitive else ''}categories"
            if len(counts) > options.max_categories:
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                kept = dict(ranked[:options.max_categories])
                kept[OTHER] = sum(n for _, n in ranked[options.max_categories:])
                ref.counts, ref.lumped = kept, True
                stored.append(f"{name}{' (sensitive)' if is_sensitive else ''}: counts of the "
                              f"{options.max_categories} most frequent of {len(counts)} {kind}, "
                              f"the rest as one '{OTHER}' count")
            else:
                ref.counts = counts
                stored.append(f"{name}{' (sensitive)' if is_sensitive else ''}: counts of "
                              f"{len(counts)} {kind}")
        features.append(ref)
    for name, why in not_monitored.items():
        stored.append(f"{name}: not stored ({why})")

    prediction = None
    if options.prediction and model is not None:
        prediction = _fit_prediction(reference, schema, model, seed, options, arrays,
                                     trusted_types or [])
        what = ("predicted probabilities" if prediction.task == "classification"
                and prediction.score_labels != ["prediction"] else "predictions")
        stored.append(f"prediction: the candidate's {what} on {prediction.rows} reference rows "
                      "(sorted, not linked to rows)"
                      + (", predicted-label counts" if prediction.label_counts else ""))

    target = None
    if options.target:
        y = reference[schema.target]
        if schema.task == "classification":
            target = TargetRef(name=schema.target, kind="categorical", rows=n,
                               counts=count_categories(y))
            stored.append(f"target {schema.target}: class counts")
        else:
            values = y.to_numpy(dtype=float)
            arrays["target/values.npy"] = _sorted_sample(values[~np.isnan(values)],
                                                         options.reference_sample, _rng(seed, 3))
            target = TargetRef(name=schema.target, kind="numeric", rows=n,
                               file="target/values.npy")
            stored.append(f"target {schema.target}: {len(arrays['target/values.npy'])} values "
                          "(seeded sample, sorted)")

    mmd = None
    if options.mmd:
        mmd = _fit_mmd(reference, schema, sensitive, [f for f, _ in plan], seed, options, arrays)
        stored.append(f"mmd: {mmd.rows} seeded reference rows of the non-sensitive monitored "
                      "columns, standardised and one-hot encoded")

    manifest = Manifest(
        harness_version=harness_version, seed=seed, reference_rows=n,
        reference_digest=reference_digest, schema_=schema.redacted(),
        sensitive_columns=list(sensitive), sensitive_handling=options.sensitive,
        not_monitored=not_monitored, params=params, features=features, prediction=prediction,
        target=target, mmd=mmd, stored=stored,
    )
    return DriftBaseline(manifest, arrays)


def model_scores(model: Any, frame: pd.DataFrame, classes: list[Any] | None,
                 score_labels: list[str]) -> tuple[list[np.ndarray], np.ndarray | None]:
    """``([scores per score label], predicted labels as keys or None)``."""
    if score_labels == ["prediction"]:
        pred = np.asarray(model.predict(frame))
        if classes is None:  # regressor: the predictions are the scores
            return [pred.astype(float)], None
        return [], np.array([category_key(v) for v in pred], dtype=object)
    proba = model.predict_proba(frame)
    assert classes is not None
    keys = [category_key(c) for c in classes]
    scores = [np.asarray(proba[:, keys.index(label)], dtype=float) for label in score_labels]
    pred = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    return scores, np.array([category_key(v) for v in pred], dtype=object)


def _fit_prediction(reference: pd.DataFrame, schema: Schema, model: Any, seed: int,
                    options: FitOptions, arrays: dict[str, np.ndarray],
                    trusted_types: list[str]) -> PredictionRef:
    rows = len(reference)
    if rows > options.reference_sample:
        pick = np.sort(_rng(seed, 2).choice(rows, size=options.reference_sample, replace=False))
        sample = reference.iloc[pick]
    else:
        sample = reference
    classes = model.classes if schema.task == "classification" else None
    if classes is not None and model.predict_proba is not None:
        keys = [category_key(c) for c in classes]
        if len(classes) == 2:
            positive = options.positive_label if options.positive_label is not None else classes[-1]
            labels = [category_key(positive)]
            if labels[0] not in keys:
                from certify.errors import ConfigError

                raise ConfigError(f"suites.drift.positive_label: {positive!r} is not a class of "
                                  f"the candidate ({', '.join(keys)})")
        else:
            labels = keys
    else:
        labels = ["prediction"]
    scores, predicted = model_scores(model, sample[schema.features], classes, labels)
    files = []
    for i, values in enumerate(scores):
        rel = f"prediction/scores-{i}.npy"
        arrays[rel] = np.sort(values)
        files.append(rel)
    label_counts = None
    if predicted is not None:
        label_counts = count_categories(pd.Series(predicted))
    return PredictionRef(
        model_name=model.name, model_digest=model.digest, model_format=model.format,
        trusted_types=trusted_types, task=schema.task,
        classes=[c for c in classes] if classes is not None else None,
        score_labels=labels if scores else [], files=files, label_counts=label_counts,
        rows=len(sample))


def mmd_matrix(frame: pd.DataFrame, ref: MMDRef) -> np.ndarray:
    """Standardised numeric columns (missing: 0) and one-hot categories, as the MMD sees rows."""
    parts = []
    for name, mean, std in zip(ref.numeric, ref.means, ref.stds, strict=True):
        values, _, _ = numeric_values(frame[name])
        assert values is not None
        z = (values - mean) / (std or 1.0)
        parts.append(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)[:, None])
    for name, cats in ref.categorical.items():
        keys = np.array([category_key(v) if not pd.isna(v) else "" for v in frame[name]],
                        dtype=object)
        parts.append(np.stack([(keys == c).astype(float) for c in cats], axis=1)
                     if cats else np.zeros((len(frame), 0)))
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))


def _fit_mmd(reference: pd.DataFrame, schema: Schema, sensitive: list[str], monitored: list[str],
             seed: int, options: FitOptions, arrays: dict[str, np.ndarray]) -> MMDRef:
    numeric = [c for c in monitored if schema.column(c).kind == "numeric" and c not in sensitive]
    categorical = [c for c in monitored if schema.column(c).kind != "numeric" and c not in sensitive]
    rng = _rng(seed, 4)
    rows = len(reference)
    pick = np.sort(rng.choice(rows, size=min(rows, options.mmd_sample), replace=False))
    sample = reference.iloc[pick]
    means, stds = [], []
    for name in numeric:
        values, _, _ = numeric_values(reference[name])
        assert values is not None
        finite = values[np.isfinite(values)]
        means.append(float(finite.mean()) if len(finite) else 0.0)
        stds.append(float(finite.std()) if len(finite) else 1.0)
    cats = {}
    for name in categorical:
        counts = count_categories(reference[name])
        cats[name] = [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]]
    ref = MMDRef(numeric=numeric, means=means, stds=stds, categorical=cats, sigma=1.0,
                 file="mmd/x_ref.npy", rows=len(sample))
    x = mmd_matrix(sample, ref)
    if x.shape[1] == 0:
        from certify.errors import ConfigError

        raise ConfigError("suites.drift.mmd: no non-sensitive monitored column to build "
                          "the MMD on")
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    positive = d2[np.triu_indices(len(x), k=1)]
    positive = positive[positive > 0]
    ref.sigma = float(np.sqrt(np.median(positive) / 2)) if len(positive) else 1.0
    arrays[ref.file] = x
    return ref


# -- loading ----------------------------------------------------------------------------------

def load_baseline(directory: Path, *, expected_digest: str | None = None) -> DriftBaseline:
    """Read and check a baseline directory; raises :class:`DriftBaselineError` when unusable."""
    where = str(directory)
    if not directory.is_dir():
        raise DriftBaselineError("missing", f"{where}: drift baseline directory not found")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise DriftBaselineError("missing", f"{where}: no {MANIFEST}; not a drift baseline")
    try:
        raw = json.loads(manifest_path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DriftBaselineError("unreadable", f"{manifest_path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DriftBaselineError("format", f"{manifest_path}: not a {FORMAT} manifest")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise DriftBaselineError("version", f"{manifest_path}: format version {version!r} is not "
                                            f"supported (this harness reads {FORMAT_VERSION})")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise DriftBaselineError("format", f"{manifest_path}: {loc}: {err['msg']}") from None
    sealed = manifest.integrity
    manifest.seal()
    if manifest.integrity != sealed:
        raise DriftBaselineError("tampered", f"{manifest_path}: the manifest was edited after it "
                                             "was written (integrity digest mismatch)")
    present = {rel: digest for rel, digest in directory_manifest(directory) if rel != MANIFEST}
    for rel, digest in sorted(manifest.files.items()):
        if rel not in present:
            raise DriftBaselineError("tampered", f"{where}: {rel} listed in the manifest is missing")
        if present[rel] != digest:
            raise DriftBaselineError("tampered", f"{where}: {rel} does not match its digest in "
                                                 "the manifest (changed after it was written)")
    extra = sorted(set(present) - set(manifest.files))
    if extra:
        raise DriftBaselineError("tampered", f"{where}: {extra[0]} is not listed in the manifest "
                                             "(added after the baseline was written)")
    digest = directory_digest(directory)
    if expected_digest is not None and digest != expected_digest:
        raise DriftBaselineError("digest-mismatch",
                                 f"{where}: digest {digest[:23]}… is not the certified "
                                 f"drift baseline's {expected_digest[:23]}…")
    arrays: dict[str, np.ndarray] = {}
    for rel in manifest.files:
        try:
            with (directory / rel).open("rb") as fh:
                array = np.load(fh, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DriftBaselineError("unreadable", f"{where}: {rel}: {exc}") from None
        if array.dtype != np.float64:
            raise DriftBaselineError("format", f"{where}: {rel}: dtype {array.dtype}, "
                                               "expected float64")
        arrays[rel] = array
    return DriftBaseline(manifest, arrays, path=directory, digest=digest)


__all__ = [
    "FORMAT", "FORMAT_VERSION", "MANIFEST", "DetectorParams", "DriftBaseline",
    "DriftBaselineError", "FeatureRef", "OTHER", "FitOptions", "Manifest", "MMDRef", "PredictionRef",
    "TargetRef", "category_key", "count_categories", "feature_plan", "fit_baseline",
    "hash_key", "load_baseline", "model_scores", "numeric_values",
]
