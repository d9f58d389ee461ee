"""Without --certify the plugin is free: no heavy library is imported."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ["ray", "deepchecks", "alibi_detect", "art", "locust", "gevent", "sklearn", "pandas",
         "hypothesis.extra.pandas", "torch", "certify.session"]


def test_plain_pytest_imports_nothing_heavy(tmp_path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import sys\n"
        f"HEAVY = {HEAVY!r}\n"
        "def test_modules():\n"
        "    loaded = [m for m in HEAVY if m in sys.modules]\n"
        "    assert 'certify.plugins.pytest_certify' in sys.modules\n"
        "    assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "test_x.py")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
