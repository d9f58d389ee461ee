"""Sensitive values are written as keyed pseudonyms that nobody can recompute."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from certify.errors import ConfigError
from certify.masking import ENV, PATTERN, Masker, unkeyed_hashes


def test_pseudonyms_are_keyed_stable_within_a_run_and_join() -> None:
    masker = Masker()
    a, b = masker.token(52000.5), masker.token("52000.5")
    assert a == b and PATTERN.fullmatch(a)  # equal text, equal pseudonym: tables still join
    assert masker.token(52000.51) != a
    # Not the unkeyed hash anybody could compute from a dictionary of incomes.
    assert a.removeprefix("masked:") not in unkeyed_hashes(52000.5)
    assert a.removeprefix("masked:") != hashlib.sha256(b"52000.5").hexdigest()[:12]
    # Another run (another random key) gives another pseudonym: nothing links the two runs.
    assert Masker().token(52000.5) != a


def test_a_key_from_the_environment_links_runs_and_must_be_long_enough() -> None:
    env = {ENV: "a team secret of some length"}
    assert Masker.from_env(env).token("x") == Masker.from_env(env).token("x")
    assert Masker.from_env(env).keyed_from_env and not Masker.from_env({}).keyed_from_env
    with pytest.raises(ConfigError, match=ENV):
        Masker.from_env({ENV: "short"})


def test_frames_and_records_keep_missing_values_and_other_columns() -> None:
    masker = Masker()
    frame = pd.DataFrame({"income": [1.5, None, 1.5], "age": [30, 40, 50]})
    out = masker.frame(frame, ["income", "not_there"])
    assert out["income"][0] == out["income"][2] and out["income"][1] is None
    assert list(out["age"]) == [30, 40, 50] and list(frame["income"].dropna()) == [1.5, 1.5]
    record = masker.record({"income": 7, "age": 3, "note": None}, ["income", "note"])
    assert record["income"].startswith("masked:") and record["age"] == 3 and record["note"] is None
