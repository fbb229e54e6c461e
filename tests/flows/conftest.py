"""One generated data set (with its ground truth) and its report, shared by the flow tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from v6ops.flows.analyses import Options
from v6ops.flows.generate import generate
from v6ops.flows.pipeline import build_report


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("generated")
    truth = generate(out)
    return out / "logs", truth


@pytest.fixture(scope="session")
def report(generated: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    logs, truth = generated
    return build_report([str(logs)], Options(bin_seconds=truth["bin_seconds"]))


@pytest.fixture(scope="session")
def truth(generated: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return generated[1]
