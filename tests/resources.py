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


def _nft_queue() -> str | None:
    """The kernel's nft ``queue`` expression (CONFIG_NFT_QUEUE), checked with ``nft -c`` in a throwaway netns.

    The same table with ``counter`` in place of ``queue`` must pass first, so a broken probe is an
    error, never a silent "the kernel lacks it".
    """
    if (problem := _netns()) or (problem := _binary("nft")):
        return problem
    name = f"v6ops-nftq-{os.getpid()}"
    table = "table inet v6ops_probe {{\n\tchain c {{\n\t\ttype filter hook input priority 0;\n\t\t{}\n\t}}\n}}\n"
    subprocess.run(["ip", "netns", "add", name], capture_output=True, check=True)
    try:
        def check(statement: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["ip", "netns", "exec", name, "nft", "-c", "-f", "-"], input=table.format(statement),
                                  capture_output=True, text=True)

        control = check("counter")
        if control.returncode != 0:
            raise RuntimeError(f"the nft-queue probe's control table is refused: {control.stderr.strip()}")
        done = check("queue num 9 bypass")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if done.returncode != 0:
        first = done.stderr.strip().splitlines()[0] if done.stderr.strip() else f"exit {done.returncode}"
        return f"this kernel's nftables has no 'queue' expression (CONFIG_NFT_QUEUE): {first}"
    return None


def _binary(name: str) -> str | None:
    return None if shutil.which(name) else f"the {name!r} command is not installed"


_CHECKS: dict[str, Callable[[], str | None]] = {
    "postgres": _postgres,
    "root": _root,
    "netns": _netns,
    "nft": lambda: _binary("nft"),
    "iptables": lambda: _binary("ip6tables-restore") or _binary("iptables-restore") or _binary("ip6tables-save"),
    "tcpdump": lambda: _binary("tcpdump"),
    "chromium": lambda: _binary("chromium"),
    "named-checkzone": lambda: _binary("named-checkzone"),
    "kea-dhcp6": lambda: _binary("kea-dhcp6"),
    "kea-dhcp4": lambda: _binary("kea-dhcp4"),
    "kea-admin": lambda: _binary("kea-admin"),
    "named": lambda: _binary("named"),
    "freeradius": lambda: _binary("freeradius"),
    "wg-quick": lambda: _binary("wg-quick"),
    "promtool": lambda: _binary("promtool"),
    "java": lambda: _binary("java"),  # the Spark engine's JVM
    "nft-queue": _nft_queue,
    "rsyslogd": lambda: None if shutil.which("rsyslogd") or os.path.exists("/usr/sbin/rsyslogd")
    else "the 'rsyslogd' command is not installed",
    "prometheus": lambda: _binary("prometheus"),
    "ss": lambda: _binary("ss"),
    "tc": lambda: _binary("tc"),
    "tayga": lambda: _binary("tayga"),
}

# Features of the running kernel: no package can install them, so a test that needs one is skipped
# with its reason even when CI=true (pytest -ra lists it), instead of failing every CI run on a kernel
# built without it. Everything else in _CHECKS is installable and must be present on CI.
KERNEL_FEATURES = frozenset({"nft-queue"})


@functools.cache
def check_resource(name: str) -> str | None:
    if name not in _CHECKS:
        raise ValueError(f"unknown resource {name!r}; known: {', '.join(sorted(_CHECKS))}")
    return _CHECKS[name]()
