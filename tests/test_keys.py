"""Keys: `certify keygen`, fingerprints, passphrases, the permission check, the environment path."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from certify.attest.keys import (
    KeyPermissionError,
    SigningKeyError,
    fingerprint,
    load_private_key_file,
    load_public_key,
    load_public_key_bytes,
)
from certify.attest.revocation import RevocationList
from certify.attest.signer import EnvSigner, FileSigner, signer_from_policy
from certify.cli import main as cli_main
from certify.errors import ConfigError
from certify.policy import Policy, policy_from_mapping


def _keygen(prefix: Path, *args: str) -> int:
    return cli_main(["keygen", "--out", str(prefix), *args])


def test_keygen_writes_a_private_key_only_its_owner_can_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CERTIFY_SIGNING_KEY_PASSPHRASE", raising=False)
    assert _keygen(tmp_path / "keys" / "certify") == 0
    private, public = tmp_path / "keys" / "certify.key", tmp_path / "keys" / "certify.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    out = capsys.readouterr().out
    keyid = fingerprint(load_public_key(public))
    assert keyid in out and "not encrypted" in out
    signer = FileSigner(private)
    assert signer.keyid == keyid and signer.algorithm == "ecdsa-p256"
    # never overwrite a key by accident
    before = private.read_bytes()
    assert _keygen(tmp_path / "keys" / "certify") == 2
    assert "already exists" in capsys.readouterr().err and private.read_bytes() == before
    assert _keygen(tmp_path / "keys" / "certify", "--force", "--algorithm", "ed25519") == 0
    assert private.read_bytes() != before and FileSigner(private).algorithm == "ed25519"


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ed25519"])
def test_keyid_is_the_openssh_sha256_fingerprint(tmp_path: Path, algorithm: str) -> None:
    from cryptography.hazmat.primitives import serialization

    assert _keygen(tmp_path / "k", "--algorithm", algorithm) == 0
    key = load_public_key(tmp_path / "k.pub")
    ssh_line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (tmp_path / "k.ssh").write_bytes(ssh_line + b"\n")
    done = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.ssh")], capture_output=True,
                          text=True, timeout=30, check=True)
    assert done.stdout.split()[1] == fingerprint(key)
    # the OpenSSH line itself is accepted as a trusted key
    assert fingerprint(load_public_key_bytes(ssh_line, "k.ssh")) == fingerprint(key)


def test_passphrase_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MY_KEY_PASS", "correct horse")
    assert _keygen(tmp_path / "k", "--passphrase-env", "MY_KEY_PASS") == 0
    assert "encrypted with $MY_KEY_PASS" in capsys.readouterr().out
    private = tmp_path / "k.key"
    assert "ENCRYPTED PRIVATE KEY" in private.read_text()
    with pytest.raises(SigningKeyError, match="encrypted; set its passphrase"):
        load_private_key_file(private)
    with pytest.raises(SigningKeyError, match="wrong passphrase"):
        load_private_key_file(private, b"battery staple")
    assert FileSigner(private, b"correct horse").keyid == fingerprint(load_public_key(tmp_path / "k.pub"))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_private_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    assert _keygen(tmp_path / "k") == 0
    private = tmp_path / "k.key"
    private.chmod(mode)
    with pytest.raises(KeyPermissionError) as err:
        FileSigner(private)
    assert f"mode {mode:04o}" in err.value.message and f"chmod 600 {private}" in err.value.message
    private.chmod(0o400)  # read-only for the owner is fine
    assert FileSigner(private).keyid


def _policy(tmp_path: Path, **signing: object) -> Policy:
    return policy_from_mapping(
        {"candidate": "models/candidate.skops",
         "data": {"reference": "r.csv", "evaluation": "e.csv", "target": "y"},
         "suites": {"quality": {}}, "signing": signing},
        tmp_path / "certify.toml", check_files=False)


def test_signer_selection_environment_first(tmp_path: Path) -> None:
    """CERTIFY_SIGNING_KEY (PEM text or a path) wins over signing.key; none means unsigned."""
    assert _keygen(tmp_path / "keys" / "policy") == 0
    assert _keygen(tmp_path / "keys" / "env") == 0
    env_pem = (tmp_path / "keys" / "env.key").read_text()
    env_id = fingerprint(load_public_key(tmp_path / "keys" / "env.pub"))
    policy_id = fingerprint(load_public_key(tmp_path / "keys" / "policy.pub"))

    assert signer_from_policy(_policy(tmp_path), environ={}) is None
    from_policy = signer_from_policy(_policy(tmp_path, key="keys/policy.key"), environ={})
    assert isinstance(from_policy, FileSigner) and from_policy.keyid == policy_id
    # PEM text in the environment: CI without a key file
    from_env = signer_from_policy(_policy(tmp_path, key="keys/policy.key"),
                                  environ={"CERTIFY_SIGNING_KEY": env_pem})
    assert isinstance(from_env, EnvSigner) and from_env.keyid == env_id
    assert "$CERTIFY_SIGNING_KEY" in repr(from_env) and "BEGIN" not in repr(from_env)
    # a path in the environment
    by_path = signer_from_policy(_policy(tmp_path),
                                 environ={"CERTIFY_SIGNING_KEY": str(tmp_path / "keys" / "env.key")})
    assert isinstance(by_path, FileSigner) and by_path.keyid == env_id
    with pytest.raises(SigningKeyError, match="signing key file not found"):
        signer_from_policy(_policy(tmp_path, key="keys/missing.key"), environ={})


def test_encrypted_key_in_environment_with_policy_named_passphrase(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_PASS", "pw")
    assert _keygen(tmp_path / "ci", "--passphrase-env", "DEPLOY_PASS") == 0
    pem = (tmp_path / "ci.key").read_text()
    policy = _policy(tmp_path, passphrase_env="DEPLOY_PASS")
    signer = signer_from_policy(policy, environ={"CERTIFY_SIGNING_KEY": pem, "DEPLOY_PASS": "pw"})
    assert signer is not None and signer.sign(b"data")
    with pytest.raises(SigningKeyError, match="encrypted"):
        signer_from_policy(policy, environ={"CERTIFY_SIGNING_KEY": pem})
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        EnvSigner("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


def test_public_key_errors_are_clear(tmp_path: Path) -> None:
    assert _keygen(tmp_path / "k") == 0
    with pytest.raises(SigningKeyError, match="this is a private key"):
        load_public_key(tmp_path / "k.key")
    (tmp_path / "junk.pub").write_text("hello")
    with pytest.raises(SigningKeyError, match="not a public key"):
        load_public_key(tmp_path / "junk.pub")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = rsa_pub.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(SigningKeyError, match="unsupported key type"):
        load_public_key_bytes(pem, "rsa.pub")


def test_revocation_list_format() -> None:
    key = "SHA256:PQSZcwO7SjmBJseB3T0ZDdQmQ0JRxESUvOSe4Vosd50"
    cert = "sha256:" + "ab" * 32
    revoked = RevocationList.parse(f"# header\n\n{key}  # leaked\n  {cert.upper().replace('SHA256', 'sha256')}\n")
    assert revoked.keys == {key} and revoked.certificates == {cert}
    with pytest.raises(ConfigError, match=r"list:2: not a key fingerprint"):
        RevocationList.parse(f"{key}\nSHA256:short\n", "list")
