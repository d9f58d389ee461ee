"""Running one check as hypothesis properties: one per stratum (input kind), sharing budgets.

Each check runs ``max_examples`` examples, spread evenly over its strata (at least one each),
and searches for at most ``time_budget_s`` seconds (each stratum gets its share, unused time
rolls over); once a counterexample is found, shrinking gets up to ``shrink_budget_s`` more
(the best counterexample so far is kept if it runs out). Seeds derive from the root seed; the
example database is keyed by check, stratum and feature columns (:func:`database_key`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certify.jsonsafe import one_line
from certify.suites.edge_cases.caller import Caller
from certify.suites.edge_cases.probe import Property
from certify.suites.edge_cases.results import Counterexample, PropertyResult
from certify.suites.edge_cases.settings import EdgeCasesSettings
from certify.suites.edge_cases.signals import ModelGone, ModelHung, Stop, Untrustworthy, Violation

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

_SUITE_KEY_VERSION = "edge_cases/1"


def database_key(check: str, stratum: str, features: list[str]) -> bytes:
    """The example-database key of one check's stratum (input kind)."""
    key = f"{_SUITE_KEY_VERSION}|{check}|{stratum}|{','.join(features)}"
    return hashlib.sha384(key.encode()).digest()


def check_seed(root: int, check: str) -> int:
    """The hypothesis seed of ``check`` (and, from a check's seed, of one of its strata)."""
    return int.from_bytes(hashlib.sha256(f"{root}:{check}".encode()).digest()[:4], "big")


@dataclass
class Runner:
    """Runs the checks of one certification, one after the other, through one caller."""

    settings: EdgeCasesSettings
    caller: Caller
    seed: int  # the root seed
    database: Path  # the example database's folder
    features: list[str]

    def run(self, cid: str, invariant: str, prop: Property[Any]) -> PropertyResult:
        """Run ``prop`` as one hypothesis property per stratum (input kind), sharing the
        check's example and time budgets; stop at the first counterexample."""
        s, caller = self.settings, self.caller
        result = PropertyResult(cid, invariant, check_seed(self.seed, cid))
        if caller.hung is not None:
            result.not_run = True
            return result
        if caller.death is not None:
            result.died = True
            return result
        caller.check = cid
        calls_before = len(caller.seconds)
        start = time.perf_counter()
        share, extra = divmod(s.max_examples, len(prop.strata))
        for i, (stratum, strategy) in enumerate(prop.strata):
            examples = max(1, share + (1 if i < extra else 0))
            search_end = start + s.time_budget_s * (i + 1) / len(prop.strata)
            result.strata[stratum] = self._stratum(result, stratum, strategy, prop, examples,
                                                   search_end)
            if result.outcome != "passed":
                break
        if result.failure is not None and (result.shrink_exhausted or result.flaky):
            result.failure.shrunk = False
        result.seconds = time.perf_counter() - start
        result.calls = len(caller.seconds) - calls_before
        return result

    def _stratum(self, result: PropertyResult, stratum: str, strategy: SearchStrategy[Any],
                 prop: Property[Any], max_examples: int, search_end: float) -> int:
        """Run one stratum; the number of examples it judged."""
        from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
        from hypothesis.database import DirectoryBasedExampleDatabase
        from hypothesis.errors import Flaky

        s = self.settings
        cid = result.check
        found_at: list[float] = []
        judged_before = result.examples

        def test(case: Any) -> None:
            now = time.perf_counter()
            if not found_at and now > search_end:
                result.budget_exhausted = True
                raise Stop()
            if found_at and now > found_at[0] + s.shrink_budget_s:
                result.shrink_exhausted = True
                raise Stop()
            result.shrinking = bool(found_at)
            if found_at:
                result.shrink_examples += 1
            else:
                result.generated += 1
            try:
                prop.body(case, result)
            except Violation as violation:
                if not found_at:
                    found_at.append(time.perf_counter())
                result.failure = Counterexample(cid, result.invariant, violation.message,
                                                violation.case, violation.observed)
                raise

        self.database.mkdir(parents=True, exist_ok=True)
        config = settings(
            database=DirectoryBasedExampleDatabase(str(self.database)),
            max_examples=max_examples,
            deadline=None,
            derandomize=False,
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            print_blob=False,
            report_multiple_bugs=False,
        )
        stratum_seed = check_seed(result.hypothesis_seed, stratum)
        wrapped = config(seed(stratum_seed)(given(strategy)(test)))
        # One database key per check and stratum. Setting it spares hypothesis reading this
        # function's source for a digest on every run (all these closures share one source).
        wrapped._hypothesis_internal_database_key = database_key(  # type: ignore[attr-defined]
            cid, stratum, self.features)
        try:
            wrapped()
        except (Violation, Stop):
            pass
        except ModelHung:
            result.hung = True
        except ModelGone:
            result.died = True
        except Untrustworthy as exc:
            result.untrustworthy = str(exc)
        except Flaky:
            result.flaky = True
        except Exception as exc:  # noqa: BLE001 - hypothesis or strategy trouble: errored
            if result.failure is None:
                result.error = f"{stratum}: {one_line(exc)}"
            else:
                result.flaky = True
        return result.examples - judged_before
