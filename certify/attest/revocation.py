"""The revocation list: key fingerprints and certificate digests that are no longer trusted.

A plain text file, one entry per line; ``#`` starts a comment (to the end of the line) and
blank lines are ignored. An entry is either

* a key fingerprint, ``SHA256:<43 base64 characters>`` (the keyid ``certify keygen`` and
  ``certify verify`` print; every certificate signed by that key is refused), or
* a certificate digest, ``sha256:<64 hex digits>``: the sha256 of the signed statement
  (the DSSE payload, identical to the run's statement.json; ``certify verify`` prints it
  as "certificate digest"). The sha256 of the envelope file itself is accepted too.

Example::

    # key leaked on 2025-03-02 (ticket SEC-118)
    SHA256:PQSZcwO7SjmBJseB3T0ZDdQmQ0JRxESUvOSe4Vosd50
    sha256:9f2c...e1  # certified with the wrong evaluation data

Anything else on a line is an error naming the file and the line (fail closed).
``certify gate`` reads ``revoked.txt`` in the ``--trust`` folder when present, and any
file given with ``--revoked``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from certify.errors import ConfigError

#: Read automatically from a --trust folder.
REVOKED_FILENAME = "revoked.txt"

_KEY = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
_CERT = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass
class RevocationList:
    keys: set[str] = field(default_factory=set)
    certificates: set[str] = field(default_factory=set)
    sources: list[Path] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.keys or self.certificates)

    def merge(self, other: RevocationList) -> RevocationList:
        return RevocationList(self.keys | other.keys, self.certificates | other.certificates,
                              self.sources + other.sources)

    @classmethod
    def parse(cls, text: str, where: str = "revocation list") -> RevocationList:
        out = cls()
        for number, line in enumerate(text.splitlines(), start=1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            if _KEY.match(entry):
                out.keys.add(entry)
            elif _CERT.match(entry.lower()):
                out.certificates.add(entry.lower())
            else:
                raise ConfigError(f"{where}:{number}: not a key fingerprint (SHA256:...) or a "
                                  f"certificate digest (sha256:<64 hex>): {entry[:80]!r}")
        return out

    @classmethod
    def load(cls, path: Path) -> RevocationList:
        if not path.is_file():
            raise ConfigError(f"{path}: revocation list not found")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the revocation list ({exc})") from None
        out = cls.parse(text, str(path))
        out.sources.append(path)
        return out
