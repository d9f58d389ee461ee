"""The demo signs: its own key pair (made once), a certificate that verify, gate and securesystemslib accept.

Only the quality suite runs here (the other demo suites are switched off) to keep this
fast; the full `certify demo` run is covered by test_demo.py.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from certify.cli import main as cli_main
from certify.demo import build_project, demo_key_pair
from certify.outputs import PUBLIC_KEY
from certify.policy import load_policy
from certify.registry import suite_classes
from certify.session import CertifySession

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("demo")
    only_quality = {name: {"enabled": False} for name in suite_classes() if name != "quality"}
    only_quality["quality"] = {"slices": ["home_ownership"], "bootstrap": 50}
    policy, _ = build_project(root, suites=only_quality)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CERTIFY_SIGNING_KEY", raising=False)
        session = CertifySession(load_policy(policy))
        session.setup()
        session.run_all()
        result = session.finish()
    assert result.verdict.certified, result.verdict.reasons
    assert result.certificate_path is not None
    return root, policy, result.certificate_path


def test_demo_makes_its_key_pair_once(demo: tuple[Path, Path, Path]) -> None:
    root, policy, cert = demo
    private, public = root / "keys" / "certify.key", root / "keys" / "certify.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert 'key = "keys/certify.key"' in policy.read_text()
    assert (cert.parent / PUBLIC_KEY).read_bytes() == public.read_bytes()
    before = private.read_bytes()
    assert demo_key_pair(root) == "keys/certify.key"  # what build_project calls
    assert private.read_bytes() == before  # reused, not regenerated


def test_demo_certificate_passes_verify_gate_and_securesystemslib(
        demo: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    root, policy, cert = demo
    model = root / "models" / "candidate.skops"
    assert cli_main(["verify", str(cert), "--key", str(cert.parent / PUBLIC_KEY),
                     "--artifact", str(model)]) == 0
    assert cli_main(["gate", str(cert), "--trust", str(root / "keys"), "--artifact", str(model),
                     "--policy", str(policy)]) == 0
    assert capsys.readouterr().out.count("VALID") == 1
    data = json.loads(cert.read_text())
    keyid = data["signatures"][0]["keyid"]
    key = SSlibKey.from_crypto(load_pem_public_key((cert.parent / PUBLIC_KEY).read_bytes()),
                               keyid=keyid)
    assert list(Envelope.from_dict(data).verify([key], 1)) == [keyid]
