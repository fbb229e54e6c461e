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
r._CHECKS["kea-dhcp6"] = lambda: "pretend it is missing"

@pytest.mark.requires("kea-dhcp6")
def test_needs_kea():
    pass
"""


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 error")])
def test_missing_resource_skips_locally_and_fails_on_ci(tmp_path: Path, ci: str, outcome: str) -> None:
    probe = ROOT / "tests" / f"test_probe_{os.getpid()}_{ci or 'local'}.py"
    probe.write_text(PROBE)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsf", str(probe)],
            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CI": ci},
        )
    finally:
        probe.unlink()
    assert outcome in proc.stdout, proc.stdout
    assert (proc.returncode != 0) == (ci == "true")
    assert "needs kea-dhcp6: pretend it is missing" in proc.stdout


def test_unknown_resource_names_are_refused() -> None:
    from tests.resources import check_resource

    with pytest.raises(ValueError, match="unknown resource 'kea'"):
        check_resource("kea")


KERNEL_PROBE = """
import pytest
import tests.resources as r

r.check_resource.cache_clear()
r._CHECKS["nft-queue"] = lambda: "pretend the kernel lacks it"

@pytest.mark.requires("nft-queue")
def test_needs_nft_queue():
    pass
"""


def test_missing_kernel_feature_is_skipped_and_named_even_on_ci() -> None:
    probe = ROOT / "tests" / f"test_probe_{os.getpid()}_kernel.py"
    probe.write_text(KERNEL_PROBE)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsf", str(probe)],
            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CI": "true"},
        )
    finally:
        probe.unlink()
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout
    assert "NOT CHECKED on this kernel: needs nft-queue: pretend the kernel lacks it" in proc.stdout
