"""Check new data against a certified drift baseline: the continuous-monitoring entry point.

``certify drift --baseline DIR --data NEW.csv [--model MODEL] [--certificate CERT --key PUB]``

The baseline is the ``drift-baseline/`` folder of a certification run. It is refused when
its files do not match its manifest (changed, added or removed after it was written) and,
with ``--certificate``, when the certificate's signature does not verify with ``--key`` or
its ``drift-baseline`` subject is not this folder's digest. The checks and evidence records
are those of the ``drift`` suite (``drift::ks[...]``, ``drift::chi2[...]``,
``drift::features``, ``drift::prediction[...]`` with ``--model``, ``drift::target[...]``
when the data has the target column). ``--model`` must be the certified candidate (its
sha256 is in the baseline); other model files are refused before they are loaded.

A sensitive value a reason must name is shown as a keyed pseudonym (``masked:…``): under
``CERTIFY_MASK_KEY`` when it is set (the same pseudonyms as the certification runs keyed with
it), else under a random key of this run. Nothing printed is a hash anybody could recompute.

Exit codes: 0 no drift (warnings allowed), 1 drift found, a check could not be made, or
the baseline/certificate was refused, 2 usage error (bad arguments, unreadable data).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from certify.errors import ExitCode

if TYPE_CHECKING:
    from certify.models import Model
    from certify.suites.drift.baseline import Manifest
    from certify.suites.drift.sources import Source

HELP = "check new data against a certified drift baseline (exit 1 on drift)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=Path, required=True, metavar="DIR",
                        help="the drift-baseline folder of a certification run")
    parser.add_argument("--data", type=Path, required=True, metavar="NEW",
                        help="new data: CSV or Parquet (Parquet is read column by column)")
    parser.add_argument("--model", type=Path, default=None, metavar="MODEL",
                        help="the certified candidate model file, for the prediction detector")
    parser.add_argument("--certificate", type=Path, default=None, metavar="CERT",
                        help="the run's certificate.intoto.json: the baseline must be its subject")
    parser.add_argument("--key", type=Path, default=None, metavar="PUB",
                        help="trusted public key (PEM) that signed the certificate")
    parser.add_argument("--executor", choices=("inprocess", "ray", "auto"), default="inprocess",
                        help="run the per-feature tests in this process or as Ray tasks "
                             "(local Ray on 127.0.0.1, or RAY_ADDRESS)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="most feature tasks at once with --executor ray")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the MMD sample (default: the baseline's seed)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document (evidence records) instead of lines")


def certified_baseline_digest(certificate: Path, key: Path) -> tuple[str, list[str]]:
    """The ``drift-baseline`` subject digest of a verified certificate, and notes."""
    from certify.attest.verify import Keyring, Reason, verify
    from certify.errors import VerificationError
    from certify.suites.drift.baseline import DriftBaselineError

    notes: list[str] = []
    keyring = Keyring.from_files([key])
    try:
        verified = verify(certificate, keyring)
        statement = verified.statement
    except VerificationError as exc:
        if exc.reason != Reason.EXPIRED:
            raise
        # Expiry is checked last: the signature and statement verified. The baseline is
        # still the certified one; monitoring with it stays meaningful.
        from certify.attest.dsse import parse_envelope
        from certify.attest.verify import parse_statement

        statement, _ = parse_statement(parse_envelope(certificate.read_bytes()).payload)
        notes.append(f"certificate {exc.message}; its signature and drift-baseline subject "
                     "are still checked")
    for subject in statement.subject:
        if subject.name == "drift-baseline":
            digest = subject.digest.get("sha256")
            if digest:
                return "sha256:" + digest, notes
    raise DriftBaselineError("digest-mismatch",
                             f"{certificate}: the certificate has no drift-baseline subject")


def _load_model(path: Path, manifest: Manifest) -> Model:
    from certify.data import file_digest
    from certify.errors import ConfigError
    from certify.models import load_model
    from certify.policy import ModelSpec
    from certify.suites.drift.baseline import DriftBaselineError

    pred = manifest.prediction
    if pred is None:
        raise ConfigError("--model: this baseline has no prediction detector (fitted with "
                          "suites.drift.prediction = false)")
    if not path.is_file():
        raise ConfigError(f"--model: file not found: {path}")
    digest = file_digest(path)
    if digest != pred.model_digest:
        raise DriftBaselineError("model-mismatch",
                                 f"--model: {path.name} ({digest[:19]}…) is not the certified "
                                 f"candidate {pred.model_name} ({pred.model_digest[:19]}…)")
    spec = ModelSpec(path=str(path.resolve()), format=pred.model_format, name=pred.model_name,
                     trusted_types=pred.trusted_types,
                     allow_pickle=pred.model_format == "joblib")
    return load_model(spec, path.parent, "model")


def _read_data(path: Path) -> Source:
    from certify.data import load_table
    from certify.suites.drift.sources import FrameSource, ParquetSource

    if not path.is_file():
        from certify.errors import DataError

        raise DataError(f"--data: file not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return ParquetSource(path)
    return FrameSource(load_table(path, "--data"))


def main(args: argparse.Namespace) -> ExitCode:
    from certify.errors import ConfigError
    from certify.evidence import Evidence, Status
    from certify.masking import Masker
    from certify.suites.drift import NAME
    from certify.suites.drift.baseline import load_baseline
    from certify.suites.drift.checks import plan_from_baseline
    from certify.suites.drift.engine import detect

    if (args.certificate is None) != (args.key is None):
        raise ConfigError("--certificate and --key go together: the certificate's signature is "
                          "checked with the trusted key")
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    masker = Masker.from_env()
    notes: list[str] = []
    expected = None
    if args.certificate is not None:
        expected, notes = certified_baseline_digest(args.certificate, args.key)
    baseline = load_baseline(args.baseline, expected_digest=expected)
    manifest = baseline.manifest
    if any(f.storage == "hashed_counts" for f in manifest.features):
        notes.append(f"baseline format version {manifest.format_version} keeps sensitive "
                     "categories as unkeyed hashes (shown here only as keyed pseudonyms); a new "
                     "certification run writes them as coarse bucket counts")
    model = _load_model(args.model, manifest) if args.model is not None else None
    source = _read_data(args.data)
    seed = manifest.seed if args.seed is None else args.seed
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)  # paths and commands stay copy-pasteable
    with console.status(f"checking {source.rows} rows against the drift baseline…") as status:
        report = detect(baseline, source, model=model, executor=args.executor,
                        workers=args.workers, seed=seed,
                        progress=lambda message: status.update(message), masker=masker)
    records = []
    for planned in plan_from_baseline(baseline):
        outcome = planned.fn(report)
        ident = f"{NAME}::{planned.name}" + (f"[{planned.param}]" if planned.param else "")
        records.append(Evidence(id=ident, suite=NAME, status=outcome.status,
                                reason=outcome.reason, metrics=outcome.metrics,
                                comparisons=outcome.comparisons, details=outcome.details,
                                seed=seed, description=planned.description))
    bad = [r for r in records if r.status in (Status.FAILED, Status.ERRORED)]
    drift = any(r.status is Status.FAILED for r in records)
    verdict = "drift" if drift else ("incomplete" if bad else "no drift")
    if args.json:
        doc = {
            "verdict": verdict,
            "baseline": {"path": str(args.baseline), "digest": baseline.digest,
                         "certified": expected is not None,
                         "format_version": manifest.format_version},
            "data": {"path": str(args.data), "rows": report.rows},
            "model": manifest.prediction.model_digest if model is not None and
            manifest.prediction else None,
            "notes": notes,
            "seconds": report.seconds,
            "evidence": [r.model_dump(mode="json") for r in records],
        }
        print(json.dumps(doc, indent=2, allow_nan=False, default=str))
    else:
        certified = "certified" if expected is not None else "integrity checked, not certified"
        print(f"baseline {args.baseline} ({(baseline.digest or '')[:23]}…, {certified})")
        for note in notes:
            print(f"note: {note}")
        print(f"data {args.data}: {report.rows} rows")
        width = max(len(r.id) for r in records)
        for r in records:
            print(f"{r.status.value:<8} {r.id:<{width}}  {r.reason}")
        print(f"verdict: {verdict.upper()}")
    sys.stdout.flush()
    return ExitCode.FAILED if bad else ExitCode.OK
