"""Signing keys: generation, loading, fingerprints, and the private-key permission check.

* Algorithms: ECDSA P-256 (``ecdsa-p256``, the default, what cosign uses) and Ed25519
  (``ed25519``). Private keys are PKCS#8 PEM, encrypted when a passphrase is given;
  public keys are SubjectPublicKeyInfo PEM (OpenSSH ``ecdsa-sha2-nistp256 ...`` /
  ``ssh-ed25519 ...`` lines are read too).
* The key id is the OpenSSH-style fingerprint ``SHA256:<base64 of sha256 of the SSH wire
  public key, no padding>``, the same string ``ssh-keygen -lf`` prints.
* A private key *file* that the group or others may read or write (any of mode 0o077) is
  refused, as OpenSSH does: ``chmod 600 FILE``. Keys given as PEM text in the environment
  (``CERTIFY_SIGNING_KEY``) have no file to check.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from certify.errors import ConfigError
from certify.outputs import atomic_write

Algorithm = Literal["ecdsa-p256", "ed25519"]
ALGORITHMS: tuple[Algorithm, ...] = ("ecdsa-p256", "ed25519")
DEFAULT_ALGORITHM: Algorithm = "ecdsa-p256"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

#: ``certify keygen`` file names (cosign's convention: NAME.key and NAME.pub).
PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"


class SigningKeyError(ConfigError):
    """A key is missing, unreadable, of an unsupported type, or wrongly protected."""


class KeyPermissionError(SigningKeyError):
    """A private key file is readable or writable by the group or others."""


def generate_private_key(algorithm: Algorithm = DEFAULT_ALGORITHM) -> PrivateKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise SigningKeyError(f"unknown key algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")


def algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    return "ecdsa-p256"


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: PublicKey) -> str:
    """OpenSSH-style ``SHA256:`` fingerprint of a public key (the DSSE keyid we use)."""
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    wire = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(wire).digest()).decode().rstrip("=")


def _check_supported(key: object, where: str) -> None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
            key.curve, ec.SECP256R1):
        return
    raise SigningKeyError(f"{where}: unsupported key type {type(key).__name__}; use ECDSA P-256 or "
                          "Ed25519 (certify keygen)")


def check_private_key_permissions(path: Path) -> None:
    """Refuse a private key file the group or others may access (OpenSSH's rule)."""
    if os.name != "posix":  # no POSIX modes to check
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyPermissionError(
            f"{path}: private key file is accessible by group or others (mode {mode:04o}); "
            f"refusing to use it. Run: chmod 600 {path}")


def load_private_key_pem(data: bytes, passphrase: bytes | None, where: str) -> PrivateKey:
    """Parse a PEM private key; clear errors for encrypted keys and wrong passphrases."""
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        if passphrase:  # a passphrase set for an unencrypted key: the key is usable as it is
            return load_private_key_pem(data, None, where)
        raise SigningKeyError(f"{where}: the private key is encrypted; set its passphrase in the "
                              "environment variable named by signing.passphrase_env "
                              "(default CERTIFY_SIGNING_KEY_PASSPHRASE)") from None
    except ValueError as exc:
        if passphrase and "-----BEGIN" in data.decode("latin-1"):
            raise SigningKeyError(f"{where}: wrong passphrase for the private key") from None
        raise SigningKeyError(f"{where}: not a PEM private key ({exc})") from None
    except UnsupportedAlgorithm as exc:
        raise SigningKeyError(f"{where}: unsupported private key ({exc})") from None
    _check_supported(key, where)
    assert isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return key


def load_private_key_file(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    """Read a private key file after checking that only its owner can read it."""
    if not path.is_file():
        raise SigningKeyError(f"{path}: signing key file not found")
    check_private_key_permissions(path)
    return load_private_key_pem(path.read_bytes(), passphrase, str(path))


def load_public_key_bytes(data: bytes, where: str) -> PublicKey:
    """A public key from SubjectPublicKeyInfo PEM or an OpenSSH public key line."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            if b"PRIVATE KEY" in text.split(b"\n", 1)[0]:
                raise SigningKeyError(f"{where}: this is a private key; give the public key "
                                      f"(the {PUBLIC_SUFFIX} file)")
            key: object = serialization.load_pem_public_key(text)
        else:
            key = serialization.load_ssh_public_key(text)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(
            f"{where}: not a public key in PEM or OpenSSH format ({exc})") from None
    _check_supported(key, where)
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return key


def load_public_key(path: Path) -> PublicKey:
    if not path.is_file():
        raise SigningKeyError(f"{path}: public key file not found")
    return load_public_key_bytes(path.read_bytes(), str(path))


def key_pair_paths(prefix: Path) -> tuple[Path, Path]:
    """``PREFIX.key`` (private) and ``PREFIX.pub`` (public)."""
    return (prefix.with_name(prefix.name + PRIVATE_SUFFIX),
            prefix.with_name(prefix.name + PUBLIC_SUFFIX))


def write_key_pair(prefix: Path, *, algorithm: Algorithm = DEFAULT_ALGORITHM,
                   passphrase: bytes | None = None, force: bool = False) -> tuple[Path, Path, str]:
    """Generate a key pair; write ``PREFIX.key`` (mode 0600) and ``PREFIX.pub``.

    Returns the two paths and the key id. Refuses to overwrite unless ``force``.
    """
    private_path, public_path = key_pair_paths(prefix)
    if not force:
        for path in (private_path, public_path):
            if path.exists():
                raise SigningKeyError(f"{path}: already exists; refusing to overwrite a key "
                                      "(pass --force to replace it)")
    key = generate_private_key(algorithm)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file is created 0600 by mkstemp; the mode is set again before the rename.
    atomic_write(private_path, private_key_pem(key, passphrase), mode=0o600)
    atomic_write(public_path, public_key_pem(key.public_key()), mode=0o644)
    return private_path, public_path, fingerprint(key.public_key())
