"""``certify.run``: a certification without invoking pytest yourself.

It drives pytest in this process, so the project's own ``@pytest.mark.certify`` checks (found
in the policy's folder, or in the paths the policy lists under ``checks``) are part of the
verdict, as under ``pytest --certify``, and returns the :class:`certify.session.RunResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from certify.errors import CertifyError, ConfigError
from certify.policy import load_policy
from certify.session import CertifySession, RunResult


class _Capture:
    """A pytest plugin object: implements pytest-certify's own hooks to learn the result."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.result: RunResult | None = None
        self.error: str | None = None

    def pytest_certify_session_start(self, session: CertifySession) -> None:
        # The command that reproduces this run is ours, not pytest's inner one.
        session.command = self.command

    def pytest_certify_finished(self, result: RunResult | None, error: str | None) -> None:
        self.result, self.error = result, error


def run(policy_path: str | Path = "certify.toml", out_dir: str | Path | None = None, *,
        seed: int | None = None, pytest_args: Sequence[str] = (), quiet: bool = False) -> RunResult:
    """Certify the candidate named by ``policy_path``; returns a ``RunResult``.

    Raises :class:`certify.errors.ConfigError` (and friends) for bad input, with the
    one-line message pytest printed.
    """
    policy_path = Path(policy_path).resolve()
    policy = load_policy(policy_path)  # validate before pytest starts: a clear error
    args = ["--certify", f"--certify-policy={policy_path}", f"--rootdir={policy.base_dir}",
            "-p", "no:cacheprovider", "-m", "certify", "-W", "ignore::DeprecationWarning"]
    if out_dir is not None:
        args.append(f"--certify-out={Path(out_dir).resolve()}")
    if seed is not None:
        args.append(f"--certify-seed={seed}")
    if quiet:
        args.append("-q")
    args += list(pytest_args)
    command = ["certify", "run", "--policy", str(policy_path)]
    if out_dir is not None:
        command += ["--out", str(Path(out_dir).resolve())]
    if seed is not None:
        command += ["--seed", str(seed)]
    capture = _Capture(command)
    # The project's own @pytest.mark.certify checks are collected as under `pytest --certify`:
    # from the policy's folder, or only from the paths the policy lists under `checks`
    # (`-m certify` keeps the ordinary tests from running).
    args += [str(policy.resolve(p)) for p in policy.checks] or [str(policy.base_dir)]
    code = pytest.main(args, plugins=[capture])
    if code == pytest.ExitCode.USAGE_ERROR:
        # pytest has printed the one line already ("ERROR: ..."); the CLI does not repeat it.
        error = ConfigError(capture.error or "certification did not start (see the error above)")
        error.reported = True
        raise error
    if capture.error:
        raise CertifyError(capture.error)
    if capture.result is None:
        raise CertifyError(f"certification did not finish (pytest exit code {int(code)})")
    return capture.result
