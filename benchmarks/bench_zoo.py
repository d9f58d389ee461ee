"""The honest zoo and the sabotage matrix, long form (a script, not a test; `tox -e bench`).

    .venv/bin/python benchmarks/bench_zoo.py [--seeds 11 12 13] [--no-strict] [--no-sabotage]
                                             [--members NAME ...] [--sabotages KIND ...]

* Zoo: every member of ``tests/zoo.py`` (CI runs the default policy on one seed) on each seed,
  under the default policy and under the strict one (monotonic constraints and categorical
  overrides declared, models trained to honour them). Each must be CERTIFIED with nothing
  failed, errored or skipped.
* Sabotage matrix: every demo sabotage that the certification must reject, with every demo
  suite on: the sabotage's own check must fail, and every other failed check must be one that
  ``ALSO`` names as seeing the same fault (errored checks only where ``ERRORED_OK`` says the
  model cannot be judged further).

Prints one line per run (verdict, seconds, the checks that did not pass) and a JSON summary;
exits 1 when any run breaks its expectation. Nothing is written into the source tree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Checks besides the sabotage's own that may fail with it because they see the same fault
#: (measured with every demo suite on; each entry says why it is the same fault):
#: - shortcut: the demo's policy says the output must not depend on sex;
#: - leaky: a forest that memorises its training rows (the reference) scores them far more
#:   confidently than new rows, which the prediction drift test sees (KS 0.20 on the scores,
#:   where honest models stay under its prediction_min_effect of 0.1);
#: - batch: a model whose answer depends on the other rows of its batch is attacked in batches
#:   (its robust accuracy drops against the baseline's) and its SHAP values do not add up to its
#:   own one-row outputs;
#: - brittle: the flips that make its robust accuracy regress are its attack success rate;
#: - drift: deepchecks' drift checks see the same new 'purpose' category;
#: - nondeterministic: SHAP values of a model that answers differently each call do not add up;
#: - worse: a worse model is worse on every quality metric and on deepchecks' comparison, and
#:   the sabotage's logistic pipeline cannot take a missing value at all (a second, real fault
#:   of that model: the demo's policy asks for predictions on missing values).
ALSO = {"shortcut": {"edge_cases::invariant[sex]"}, "leaky": {"drift::prediction[scores]"},
        "batch": {"adversarial::regression", "explain::additivity"},
        "brittle": {"adversarial::attack_success_rate"},
        "drift": {"drift::features", "validation::feature_drift",
                  "validation::multivariate_drift", "validation::new_category_train_test"},
        "nondeterministic": {"explain::additivity"},
        "worse": {"quality::accuracy", "quality::f1", "quality::log_loss",
                  "quality::worst_slice[home_ownership]", "validation::vs_baseline[accuracy]",
                  "validation::vs_baseline[roc_auc]", "edge_cases::no_crash"}}
#: Sabotages whose model cannot be judged further once its fault is found: the checks that
#: would need it are errored, each with that reason (a hung model is not called again; the
#: adversarial suite's probe and the invariance checks stop on a model that answers the same
#: row differently twice). Any other errored check breaks the expectation.
ERRORED_OK = {"hang": ("edge_cases::", "explain::", "privacy::", "validation::"),
              "nondeterministic": ("adversarial::", "edge_cases::")}


def zoo(seeds: list[int], strict: bool, members: list[str] | None, root: Path) -> list[dict[str, Any]]:
    import pytest

    from tests.zoo import ZOO, outcome, project

    rows = []
    for name, member in sorted(ZOO.items()):
        if members and name not in members:
            continue
        if member.needs:
            try:
                pytest.importorskip(member.needs)
            except pytest.skip.Exception:
                print(f"zoo {name}: skipped ({member.needs} is not installed)")
                continue
        for seed in seeds:
            for strict_policy in ([False, True] if strict else [False]):
                label = f"{name} seed={seed} {'strict' if strict_policy else 'default'}"
                start = time.perf_counter()
                with project(member, root / f"{name}-{seed}-{int(strict_policy)}", seed,
                             strict=strict_policy) as policy:
                    decision, evidence = outcome(policy, seed)
                bad = {cid: e["status"] for cid, e in evidence.items()
                       if e["status"] in ("failed", "errored", "skipped")}
                ok = decision == "CERTIFIED" and not bad
                rows.append({"run": label, "decision": decision, "bad": bad, "ok": ok,
                             "seconds": round(time.perf_counter() - start, 1)})
                print(f"zoo {label}: {decision} in {rows[-1]['seconds']} s"
                      + ("" if ok else f"  NOT PASSED: {bad}"), flush=True)
    return rows


def sabotages(kinds: list[str] | None, root: Path) -> list[dict[str, Any]]:
    from certify.demo import SABOTAGES, build_project
    from certify.policy import load_policy
    from certify.session import CertifySession

    rows = []
    for kind, sabotage in sorted(SABOTAGES.items()):
        if sabotage.outcome != "REJECTED" or (kinds and kind not in kinds):
            continue
        start = time.perf_counter()
        policy, _ = build_project(root / kind, kind)
        session = CertifySession(load_policy(policy))
        session.setup()
        try:
            session.run_all()
        except BaseException:
            session.abort()
            raise
        result = session.finish()
        report = json.loads(result.report_path.read_text())
        failed = {e["id"] for e in report["evidence"] if e["status"] == "failed"}
        errored = {e["id"] for e in report["evidence"] if e["status"] == "errored"}
        allowed = {sabotage.expect_reason} | ALSO.get(kind, set())
        stray = {e for e in errored if not e.startswith(ERRORED_OK.get(kind, ("\0",)))}
        ok = (report["verdict"]["decision"] == "REJECTED" and sabotage.expect_reason in failed
              and failed <= allowed and not stray)
        rows.append({"sabotage": kind, "decision": report["verdict"]["decision"],
                     "failed": sorted(failed), "errored": sorted(errored), "ok": ok,
                     "seconds": round(time.perf_counter() - start, 1)})
        print(f"sabotage {kind}: {rows[-1]['decision']} in {rows[-1]['seconds']} s, failed "
              f"{sorted(failed)}" + (f", errored {sorted(errored)}" if errored else "")
              + ("" if ok else f"  NOT AS EXPECTED (only {sorted(allowed)})"), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--no-strict", action="store_true")
    parser.add_argument("--no-sabotage", action="store_true")
    parser.add_argument("--no-zoo", action="store_true")
    parser.add_argument("--members", nargs="*")
    parser.add_argument("--sabotages", nargs="*")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-zoo-"))
    try:
        zoo_rows = [] if args.no_zoo else zoo(args.seeds, not args.no_strict, args.members, root)
        sab_rows = [] if args.no_sabotage else sabotages(args.sabotages, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    failures = [r for r in zoo_rows + sab_rows if not r["ok"]]
    print(json.dumps({"zoo": zoo_rows, "sabotage": sab_rows, "failures": len(failures)}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
