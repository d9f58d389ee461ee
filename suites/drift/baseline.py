"""The drift baseline on disk: its manifest, the format it is written in, and loading it.

The baseline is fitted by :mod:`certify.suites.drift.fit` and read by the checks
(:mod:`certify.suites.drift.engine`); this module is the format they share.

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
reference matrix), any raw value of a sensitive column, and any hash of one. A sensitive
numeric column is kept as counts over ``sensitive_bins`` quantile ranges whose edges are
rounded to two significant digits (``binned_counts``). A sensitive categorical column is kept
as counts over ``sensitive_bins`` coarse buckets (``bucketed_counts``): a category falls in
the bucket :func:`~certify.suites.drift.columns.bucket_of` names (a fixed public function,
so ``certify drift`` re-checks new data without any secret), several categories share a
bucket, and buckets are merged until every stored count covers at least
:data:`~certify.suites.drift.columns.MIN_BUCKET_ROWS` reference rows (a rare category is never
counted alone; an empty bucket does not say which categories are absent). Only bucket
numbers and counts are written: neither a category's text nor a hash of it. With
``sensitive = "drop"`` neither kind is kept. Other categorical columns are category counts
over the whole reference data. Each feature records its kind and whether the policy declared
it (``declared``), so that new data is read with the same declared kind. The manifest's
``stored`` list says all of this in words, per column.

Versions: 2 (this one) added ``bucketed_counts`` and ``declared``. Version 1 kept a sensitive
categorical column as counts per unkeyed ``sha256:`` hash of the category text
(``hashed_counts``), which anybody can recompute from a list of candidate values: such a
baseline is still read and checked (the certificate of its run names its digest), but the
hashes never reach an output: they are shown as the run's keyed pseudonyms
(:mod:`certify.masking`). Refit the baseline to drop them from the folder itself.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certify.data import Schema
from certify.errors import VerificationError
from certify.evidence import Threshold
from certify.outputs import atomic_write, directory_digest, directory_manifest

FORMAT: Final = "certify-drift-baseline"
FORMAT_VERSION = 2
#: Versions this harness reads (1: sensitive categories as unkeyed hashes; see above).
READABLE_VERSIONS = (1, 2)
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
    #: Floor of the prediction tests' effect (their reference rows may be the training rows).
    prediction_min_effect: float = 0.1
    min_rows: int = 30
    null_rate_increase: Threshold = Threshold(fail=0.2, warn=0.05)
    mmd_permutations: int = 200


class FeatureRef(_Strict):
    """One feature column's reference, and the test it gets."""

    name: str
    kind: Literal["numeric", "categorical", "boolean"]
    dtype: str
    test: Literal["ks", "chi2"]
    #: ``hashed_counts`` only in version-1 baselines (read, never written).
    storage: Literal["sorted_sample", "counts", "binned_counts", "bucketed_counts",
                     "hashed_counts"]
    sensitive: bool = False
    #: The policy declared the kind (``[data.columns.<name>] kind``): new data has it too.
    declared: bool = False
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
    #: ``bucketed_counts``: the number of buckets, and each bucket's group (its count's key is
    #: :func:`~certify.suites.drift.columns.group_labels` of these).
    buckets: int | None = None
    groups: list[int] | None = None

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
        return canonical(self.model_dump(mode="json", by_alias=True))

    def seal(self) -> None:
        self.integrity = integrity_of(self.model_dump(mode="json", by_alias=True))


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes a manifest's integrity digest covers: its JSON without ``integrity``."""
    rest = {k: v for k, v in body.items() if k != "integrity"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def integrity_of(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


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

    def report_info(self, name: str) -> dict[str, Any]:
        """What the report says about this saved baseline (``name``: its folder in the run)."""
        assert self.path is not None, "the baseline is not saved"
        files = [p for p in self.path.rglob("*") if p.is_file()]
        return {
            "path": name, "digest": self.digest,
            "format_version": self.manifest.format_version, "files": len(files),
            "bytes": sum(p.stat().st_size for p in files), "stored": self.manifest.stored,
            "not_monitored": self.manifest.not_monitored,
            "sensitive_handling": self.manifest.sensitive_handling,
        }


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
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise DriftBaselineError("version", f"{manifest_path}: format version {version!r} is not "
                                            f"supported (this harness reads {readable})")
    # The digest covers the manifest as written (an older version lacks newer fields).
    if raw.get("integrity") != integrity_of(raw):
        raise DriftBaselineError("tampered", f"{manifest_path}: the manifest was edited after it "
                                             "was written (integrity digest mismatch)")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise DriftBaselineError("format", f"{manifest_path}: {loc}: {err['msg']}") from None
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
