"""Shared fixtures and the system-resource marker convention.

``@pytest.mark.requires("postgres")`` (or root, netns, nft, tcpdump, chromium):
on a laptop without the resource the test is skipped with the reason; with
``CI=true`` it fails instead, so CI can never pass by skipping. The one exception is a
feature of the running kernel (``tests.resources.KERNEL_FEATURES``, e.g. ``nft-queue``): no
package installs it, so the test is skipped everywhere with a "NOT CHECKED" reason that
``-ra`` prints in the CI log.
"""

from __future__ import annotations

import os

import pytest

from tests.resources import KERNEL_FEATURES, check_resource


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("requires"):
        for resource in marker.args:
            problem = check_resource(resource)
            if problem is None:
                continue
            message = f"needs {resource}: {problem}"
            if resource in KERNEL_FEATURES:
                pytest.skip(f"NOT CHECKED on this kernel: {message}")
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{message} (CI=true: required resources may not be skipped)", pytrace=False)
            pytest.skip(message)
