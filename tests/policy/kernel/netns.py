"""Two network namespaces joined by a veth pair, named with our pid, always deleted."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SENDER_ADDR = "2001:db8:1::1"
RECEIVER_ADDR = "2001:db8:1::2"
SENDER_ADDR4 = "44.1.1.1"  # a globally routed IPv4 block, so neither bogon nor private
RECEIVER_ADDR4 = "44.1.1.2"


def run(*argv: str, ns: str | None = None, check: bool = True, input_text: str | None = None) -> str:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    done = subprocess.run(cmd, capture_output=True, text=True, input=input_text, timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


_SERIAL = itertools.count()


@dataclass
class Pair:
    sender: str
    receiver: str
    sender_if: str
    receiver_if: str
    receiver_mac: str


@contextmanager
def netns_pair(tag: str, routes: tuple[str, ...] = ()) -> Iterator[Pair]:
    """sender --veth-- receiver; the receiver routes ``routes`` back through the veth (for uRPF)."""
    pid = os.getpid()
    serial = next(_SERIAL)
    sender, receiver = f"v6s-{tag}-{pid}-{serial}", f"v6r-{tag}-{pid}-{serial}"
    s_if, r_if = f"vs{pid % 100000}x{serial}", f"vr{pid % 100000}x{serial}"
    created: list[str] = []
    try:
        for ns in (sender, receiver):
            run("ip", "netns", "add", ns)
            created.append(ns)
        run("ip", "link", "add", s_if, "netns", sender, "type", "veth", "peer", "name", r_if, "netns", receiver)
        for ns, iface, addr, addr4 in ((sender, s_if, SENDER_ADDR, SENDER_ADDR4),
                                       (receiver, r_if, RECEIVER_ADDR, RECEIVER_ADDR4)):
            run("sysctl", "-qw", "net.ipv6.conf.all.router_solicitations=0", ns=ns)
            run("sysctl", "-qw", "net.ipv6.conf.all.accept_ra=0", ns=ns)
            run("sysctl", "-qw", "net.ipv6.conf.default.accept_ra=0", ns=ns)
            run("ip", "link", "set", "lo", "up", ns=ns)
            run("ip", "link", "set", iface, "up", ns=ns)
            run("ip", "-6", "addr", "add", f"{addr}/64", "dev", iface, "nodad", ns=ns)
            run("ip", "-4", "addr", "add", f"{addr4}/24", "dev", iface, ns=ns)
        for prefix in routes:
            run("ip", "-6", "route", "replace", prefix, "dev", r_if, ns=receiver)
        link = json.loads(run("ip", "-j", "link", "show", r_if, ns=receiver))
        yield Pair(sender, receiver, s_if, r_if, link[0]["address"])
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@contextmanager
def throwaway_netns(tag: str) -> Iterator[str]:
    name = f"v6c-{tag}-{os.getpid()}"
    run("ip", "netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def nft_check(ruleset: str, tag: str = "check") -> None:
    """``nft -c -f``: the kernel parses and validates the ruleset without applying it."""
    with throwaway_netns(tag) as ns:
        run("nft", "-c", "-f", "-", ns=ns, input_text=ruleset)


OBSERVE = """\
table inet v6ops_test_observe {
\tset delivered { typeof ip6 flowlabel; size 65535; }
\tset delivered4 { typeof ip id; size 65535; }
\tchain observe { type filter hook input priority 100; policy accept;
\t\tip6 flowlabel != 0 add @delivered { ip6 flowlabel }
\t\tip id >= 0x5000 add @delivered4 { ip id }
\t}
}
"""
IPV4_LABEL = 0x800000  # IPv4 packets are labelled by their Identification field; this keeps the spaces apart


def delivered_labels(ns: str) -> set[int]:
    """Labels that reached the observation chain (after every filter and the guard): IPv6 flow labels,
    and IPv4 Identification values plus ``IPV4_LABEL``."""
    out: set[int] = set()
    for name, offset in (("delivered", 0), ("delivered4", IPV4_LABEL)):
        listing = json.loads(run("nft", "-j", "list", "set", "inet", "v6ops_test_observe", name, ns=ns))
        for item in listing["nftables"]:
            if "set" in item:
                out.update(offset + e for e in item["set"].get("elem", []) if isinstance(e, int))
    return out


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 15.0) -> None:
    """Block until the process prints ``needle`` on stderr (tcpdump's 'listening on', the guard's ready line)."""
    import time

    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if needle in line:
            return
        if proc.poll() is not None:
            break
    raise AssertionError(f"{needle!r} never appeared; stderr: {seen}")


def wait_for_capture(path: Path, wanted: Callable[[bytes], bool], count: int, timeout: float = 10.0) -> None:
    """Poll a tcpdump ``-U`` capture until ``count`` IP packets satisfy ``wanted`` (a loaded machine can
    take a while to deliver what the sender already sent); then the capture can be stopped."""
    import time

    from v6ops.policy.pcap import read_capture

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 24:
            seen = sum(1 for f in read_capture(path) if f.ip is not None and wanted(f.ip))
            if seen >= count:
                return
        time.sleep(0.1)
    raise AssertionError(f"{path} never held {count} of the packets sent")


@contextmanager
def tcpdump_in(ns: str, capture: Path, *options: str) -> Iterator[None]:
    """tcpdump recording what arrives (``-Q in``, unbuffered) in ``ns`` to ``capture``: listening when the
    block starts, stopped with SIGINT (so the file is complete) when it ends. ``options`` end with the filter."""
    import signal

    proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-Q", "in", "-U", "-n", "-w", str(capture),
                             *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(proc, "listening on")
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


def send_frames(ns: str, iface: str, frames: list[Any], tmp: Path, gaps: list[float] | None = None) -> None:
    """Send scapy frames on ``iface`` from inside ``ns`` (send_frames.py), sleeping ``gaps`` seconds after
    each one (default 50 ms)."""
    import sys

    from scapy.utils import wrpcap

    wrpcap(str(tmp / "sent.pcap"), frames)
    (tmp / "gaps.json").write_text(json.dumps([0.05] * len(frames) if gaps is None else gaps))
    run(sys.executable, str(Path(__file__).resolve().parent / "send_frames.py"), iface, str(tmp / "sent.pcap"),
        str(tmp / "gaps.json"), ns=ns)
