"""DSSE (Dead Simple Signing Envelope) v1: the pre-authentication encoding and the envelope.

The only "crypto" of our own is the encoding (PAE) the DSSE specification defines; the
signature primitives come from ``cryptography`` (see :mod:`certify.attest.signer`).

* :func:`pae` is ``"DSSEv1" SP len(type) SP type SP len(body) SP body`` with decimal ASCII
  lengths, the exact bytes that are signed and verified.
* :class:`Envelope` keeps the *exact* payload bytes that were signed; the payload is never
  re-serialised between verification and parsing.
* :func:`parse_envelope` is strict: a JSON object with exactly ``payload``,
  ``payloadType`` and ``signatures`` (duplicate keys, NaN and extra keys rejected), strict
  base64, at least one signature, each with a ``keyid`` and a non-empty ``sig``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from certify.errors import VerificationError

#: The payloadType of an in-toto Statement.
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of ``payload`` with ``payload_type``."""
    ptype = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(ptype), ptype, len(payload), payload)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, both allowed by DSSE); raises ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    raw = text.encode("ascii", errors="strict")
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        pass
    try:
        return base64.b64decode(raw, altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64: {exc}") from None


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes

    def to_dict(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": b64encode(self.sig)}


@dataclass
class Envelope:
    """A DSSE envelope. ``payload`` holds the exact signed bytes."""

    payload: bytes
    payload_type: str
    signatures: list[Signature] = field(default_factory=list)

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_dict(self) -> dict[str, Any]:
        return {"payloadType": self.payload_type, "payload": b64encode(self.payload),
                "signatures": [s.to_dict() for s in self.signatures]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not JSON")


class DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(f"duplicate key {key!r}")
        out[key] = value
    return out


def strict_json_loads(data: bytes | str) -> Any:
    """``json.loads`` that rejects duplicate object keys and NaN/Infinity.

    Raises :class:`DuplicateKeyError` for duplicates and ``ValueError`` for everything else.
    """
    text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


ENVELOPE_KEYS = frozenset({"payload", "payloadType", "signatures"})


def parse_envelope(data: bytes) -> Envelope:
    """Parse an envelope file strictly; raises :class:`VerificationError`.

    Reasons: ``malformed-envelope`` (not JSON, truncated, wrong shape, bad base64),
    ``no-signatures`` (an empty signatures list).
    """
    def bad(message: str) -> VerificationError:
        return VerificationError("malformed-envelope", f"not a DSSE envelope: {message}")

    try:
        raw = strict_json_loads(data)
    except UnicodeDecodeError:
        raise bad("not UTF-8 text") from None
    except ValueError as exc:
        raise bad(f"not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise bad("the top level is not a JSON object")
    missing = sorted(ENVELOPE_KEYS - raw.keys())
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    extra = sorted(raw.keys() - ENVELOPE_KEYS)
    if extra:
        raise bad(f"unexpected key(s) {', '.join(extra)}")
    if not isinstance(raw["payloadType"], str):
        raise bad("payloadType is not a string")
    try:
        payload = b64decode(raw["payload"])
    except ValueError as exc:
        raise bad(f"payload is not base64 ({exc})") from None
    sigs = raw["signatures"]
    if not isinstance(sigs, list):
        raise bad("signatures is not a list")
    if not sigs:
        raise VerificationError("no-signatures", "the envelope has an empty signatures list")
    signatures = []
    for i, item in enumerate(sigs):
        if not isinstance(item, dict) or not isinstance(item.get("sig"), str):
            raise bad(f"signatures[{i}] has no 'sig' string")
        keyid = item.get("keyid", "")
        if not isinstance(keyid, str):
            raise bad(f"signatures[{i}].keyid is not a string")
        if set(item) - {"keyid", "sig"}:
            raise bad(f"signatures[{i}] has unexpected keys")
        try:
            sig = b64decode(item["sig"])
        except ValueError as exc:
            raise bad(f"signatures[{i}].sig is not base64 ({exc})") from None
        if not sig:
            raise bad(f"signatures[{i}].sig is empty")
        signatures.append(Signature(keyid=keyid, sig=sig))
    return Envelope(payload=payload, payload_type=raw["payloadType"], signatures=signatures)
