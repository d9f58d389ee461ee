"""Pseudonyms for sensitive values: keyed, so that nobody can turn them back into the values.

A sensitive value (a column the policy lists in ``sensitive_columns``) is never written raw. It
is written as ``masked:`` and 12 hex digits of HMAC-SHA256 over its text, under a key that is

* ``CERTIFY_MASK_KEY`` from the environment (at least 16 characters), when a team wants the
  same value to get the same pseudonym across runs (to join reports); keep it secret;
* otherwise a random key made for this run and never written anywhere.

Equal values get equal pseudonyms within a run, so tables still join and duplicates still show.
An unkeyed hash would not protect anything: a dictionary of every plausible value (every income
to the cent) is a few seconds of hashing away.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from certify.errors import ConfigError

ENV = "CERTIFY_MASK_KEY"
PREFIX = "masked:"
DIGITS = 12
#: What a pseudonym looks like in any output.
PATTERN = re.compile(rf"{PREFIX}[0-9a-f]{{{DIGITS}}}")


class Masker:
    """Pseudonyms under one key (see the module documentation)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.keyed_from_env = key is not None
        self._key = key if key is not None else secrets.token_bytes(32)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Masker:
        value = (os.environ if environ is None else environ).get(ENV)
        if value is None:
            return cls()
        if len(value) < 16:
            raise ConfigError(f"{ENV}: a masking key needs at least 16 characters")
        return cls(value.encode())

    def token(self, value: Any) -> str:
        """The pseudonym of one value (its text, as written in the data)."""
        digest = hmac.new(self._key, str(value).encode(), hashlib.sha256).hexdigest()
        return PREFIX + digest[:DIGITS]

    def frame(self, frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
        """A copy of ``frame`` with ``columns`` (those present) replaced by pseudonyms; missing
        values stay missing."""
        out = frame.copy()
        for column in columns:
            if column in out.columns:
                out[column] = [None if pd.isna(v) else self.token(v) for v in out[column]]
        return out

    def record(self, record: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
        """A copy of ``record`` with the values of ``columns`` replaced by pseudonyms."""
        sensitive = set(columns)
        return {k: (self.token(v) if k in sensitive and v is not None else v)
                for k, v in record.items()}


def unkeyed_hashes(value: Any) -> set[str]:
    """The recomputable (unkeyed) hash texts of ``value`` that an output must never contain:
    sha256/sha1/md5 hex digests of its text and their usual short prefixes."""
    text = str(value).encode()
    out = set()
    for algorithm in ("sha256", "sha1", "md5"):
        hexdigest = hashlib.new(algorithm, text).hexdigest()
        out |= {hexdigest, hexdigest[:DIGITS], hexdigest[:16]}
    return out
