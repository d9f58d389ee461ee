"""Signers: where the signature comes from. A small interface so that a cloud KMS can plug in.

A :class:`Signer` has a ``keyid`` (the OpenSSH-style ``SHA256:`` fingerprint of its
public key), its public key in PEM, and ``sign(data) -> signature``. Two implementations
ship: :class:`FileSigner` (a PEM file, mode 0600) and :class:`EnvSigner` (PEM text in an
environment variable, for CI without a key file on disk). A KMS signer only has to
implement the same three members.

Which key signs (:func:`signer_from_policy`), first match wins:

1. ``CERTIFY_SIGNING_KEY``: PEM text (it contains ``-----BEGIN``) or the path of a key file;
2. the policy's ``signing.key`` (a path relative to the policy file);
3. none: the run writes report.json and the unsigned statement.json, no certificate.

The passphrase of an encrypted key is read from the variable named by the policy's
``signing.passphrase_env`` (default ``CERTIFY_SIGNING_KEY_PASSPHRASE``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from certify.attest.dsse import Envelope, Signature
from certify.attest.keys import (
    PrivateKey,
    algorithm_of,
    fingerprint,
    load_private_key_file,
    load_private_key_pem,
    public_key_pem,
)

if TYPE_CHECKING:
    from certify.policy import Policy

#: Environment variable with the signing key: PEM text or a path. Wins over signing.key.
ENV_KEY = "CERTIFY_SIGNING_KEY"
#: Default environment variable with the key's passphrase (policy: signing.passphrase_env).
ENV_PASSPHRASE = "CERTIFY_SIGNING_KEY_PASSPHRASE"


@runtime_checkable
class Signer(Protocol):
    """What signing needs; implement these three members for a KMS or an HSM."""

    @property
    def keyid(self) -> str: ...

    def public_key_pem(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


class KeySigner:
    """Signs with a private key held in memory (ECDSA P-256 with SHA-256, or Ed25519)."""

    def __init__(self, key: PrivateKey, source: str) -> None:
        self._key = key
        self.source = source
        self.algorithm = algorithm_of(key)
        self._keyid = fingerprint(key.public_key())

    @property
    def keyid(self) -> str:
        return self._keyid

    def public_key_pem(self) -> bytes:
        return public_key_pem(self._key.public_key())

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(data)
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER, as cosign writes it

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.keyid} from {self.source}>"


class FileSigner(KeySigner):
    """A private key file (refused when the group or others can read it)."""

    def __init__(self, path: Path, passphrase: bytes | None = None) -> None:
        super().__init__(load_private_key_file(path, passphrase), str(path))


class EnvSigner(KeySigner):
    """A PEM private key given as text in an environment variable."""

    def __init__(self, pem: str, passphrase: bytes | None = None, *,
                 variable: str = ENV_KEY) -> None:
        super().__init__(load_private_key_pem(pem.encode(), passphrase, f"${variable}"),
                         f"${variable}")


def signer_from_policy(policy: Policy, environ: Mapping[str, str] | None = None) -> Signer | None:
    """The signer configured for ``policy`` (environment first), or None when no key is set."""
    env = os.environ if environ is None else environ
    phrase = env.get(policy.signing.passphrase_env) or None
    passphrase = phrase.encode() if phrase else None
    value = env.get(ENV_KEY, "").strip()
    if value:
        if "-----BEGIN" in value:
            return EnvSigner(value, passphrase)
        return FileSigner(Path(value).expanduser(), passphrase)
    if policy.signing.key:
        return FileSigner(policy.resolve(policy.signing.key), passphrase)
    return None


def sign_envelope(payload: bytes, payload_type: str, signer: Signer) -> Envelope:
    """A DSSE envelope over ``payload``, signed over its pre-authentication encoding."""
    envelope = Envelope(payload=payload, payload_type=payload_type)
    envelope.signatures.append(Signature(keyid=signer.keyid, sig=signer.sign(envelope.pae())))
    return envelope
