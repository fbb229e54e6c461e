"""Throw-away network namespaces joined by veth links, for probe scenarios (names carry the pid)."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

_serial = itertools.count()


def sh(*argv: str, ns: str | None = None, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    result = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


class Lab:
    """Namespaces and links; everything is deleted on exit."""

    def __init__(self, tag: str) -> None:
        self.tag = f"{tag}{os.getpid()}x{next(_serial)}"
        self.namespaces: list[str] = []
        self._links = 0

    def ns(self, role: str) -> str:
        name = f"v6p-{role}-{self.tag}"
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "link", "set", "lo", "up", ns=name)
        for key in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"):
            sh("sysctl", "-qw", key, ns=name)
        return name

    def link(self, a: str, b: str, a_addrs: Sequence[str], b_addrs: Sequence[str], *,
             a_mtu: int = 1500, b_mtu: int = 1500) -> tuple[str, str]:
        """A veth pair from namespace ``a`` to ``b``; each end's MTU may differ (the receiving end drops larger frames)."""
        self._links += 1
        a_if, b_if = f"pa{self._links}", f"pb{self._links}"
        sh("ip", "link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b)
        for ns, ifname, addrs, mtu in ((a, a_if, a_addrs, a_mtu), (b, b_if, b_addrs, b_mtu)):
            sh("ip", "link", "set", ifname, "mtu", str(mtu), "up", ns=ns)
            for addr in addrs:
                extra = ["nodad"] if ":" in addr else []
                sh("ip", "addr", "add", addr, "dev", ifname, *extra, ns=ns)
        return a_if, b_if

    def close(self) -> None:
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "pids", name], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@contextmanager
def lab(tag: str) -> Iterator[Lab]:
    instance = Lab(tag)
    try:
        yield instance
    finally:
        instance.close()
