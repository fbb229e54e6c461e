"""Checks for the system resources tests may need; each returns None or what is missing."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable

POSTGRES_URL = os.environ.get("V6OPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "the psycopg package is not installed (pip install 'v6ops[postgres]')"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:  # any connection failure means "not available"; the reason is reported
        return f"cannot connect to {POSTGRES_URL}: {exc}".splitlines()[0]
    return None


def _root() -> str | None:
    return None if os.geteuid() == 0 else "tests must run as root"


def _netns() -> str | None:
    if (problem := _root()) or (problem := _binary("ip")):
        return problem
    name = f"v6ops-probe-{os.getpid()}"
    added = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if added.returncode != 0:
        return f"'ip netns add' failed: {added.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def _binary(name: str) -> str | None:
    return None if shutil.which(name) else f"the {name!r} command is not installed"


_CHECKS: dict[str, Callable[[], str | None]] = {
    "postgres": _postgres,
    "root": _root,
    "netns": _netns,
    "nft": lambda: _binary("nft"),
    "tcpdump": lambda: _binary("tcpdump"),
    "chromium": lambda: _binary("chromium"),
    "named-checkzone": lambda: _binary("named-checkzone"),
    "kea-dhcp6": lambda: _binary("kea-dhcp6"),
    "promtool": lambda: _binary("promtool"),
    "tc": lambda: _binary("tc"),
    "ss": lambda: _binary("ss"),
    "ip6tables": lambda: _binary("ip6tables"),
    "tayga": lambda: _binary("tayga"),
}


@functools.cache
def check_resource(name: str) -> str | None:
    if name not in _CHECKS:
        raise ValueError(f"unknown resource {name!r}; known: {', '.join(sorted(_CHECKS))}")
    return _CHECKS[name]()
