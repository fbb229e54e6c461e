"""The marker convention: skip on a laptop, fail when CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import pytest
import tests.resources as r

r.check_resource.cache_clear()
r._CHECKS["{resource}"] = lambda: "{problem}"

@pytest.mark.requires("{resource}")
def test_needs_it():
    pass
"""


def _run_probe(code: str, ci: str, tag: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as a test module of its own (inside tests/, so the conftest applies)."""
    probe = ROOT / "tests" / f"test_probe_{os.getpid()}_{tag}.py"
    probe.write_text(code)
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsf", str(probe)],
            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CI": ci},
        )
    finally:
        probe.unlink()


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 error")])
def test_missing_resource_skips_locally_and_fails_on_ci(ci: str, outcome: str) -> None:
    proc = _run_probe(PROBE.format(resource="kea-dhcp6", problem="pretend it is missing"), ci, ci or "local")
    assert outcome in proc.stdout, proc.stdout
    assert (proc.returncode != 0) == (ci == "true")
    assert "needs kea-dhcp6: pretend it is missing" in proc.stdout


def test_unknown_resource_names_are_refused() -> None:
    from tests.resources import check_resource

    with pytest.raises(ValueError, match="unknown resource 'kea'"):
        check_resource("kea")


def test_missing_kernel_feature_is_skipped_and_named_even_on_ci() -> None:
    proc = _run_probe(PROBE.format(resource="nft-queue", problem="pretend the kernel lacks it"), "true", "kernel")
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout
    assert "NOT CHECKED on this kernel: needs nft-queue: pretend the kernel lacks it" in proc.stdout
