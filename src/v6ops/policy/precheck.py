"""``v6ops policy precheck``: can this host enforce the policy? The seed's precheck script, by probing.

Every answer comes from the kernel and the tools themselves: nftables features are tried with
``nft -c`` (the kernel validates, nothing is applied) inside a throwaway network namespace, 802.1Q
by creating a VLAN on a dummy link there, NFQUEUE in its nft form (``queue`` statement) and its xt
form (``ip6tables -j NFQUEUE``). Each check names what is missing and what to install or load.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

Runner = Callable[[list[str], str | None], tuple[int, str]]


def run_command(argv: list[str], stdin: str | None = None) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, f"{' '.join(argv)}: timed out"
    return done.returncode, (done.stdout + done.stderr).strip()


class PrecheckItem(BaseModel):
    name: str
    ok: bool
    needed: bool
    evidence: str
    fix: str = ""


class PrecheckReport(BaseModel):
    ok: bool
    items: list[PrecheckItem]


@dataclass(frozen=True)
class Feature:
    name: str
    used: re.Pattern[str]  # does the compiled table use it?
    probe: str  # chain body lines
    fix: str


_T = "table inet v6ops_precheck {{\n{extra}\tchain c {{\n\t\ttype filter hook input priority 0; policy accept;\n{body}\t}}\n}}\n"

FEATURES = (
    Feature("named counters", re.compile(r"^\tcounter ", re.M), "\t\tcounter name \"x\"\n",
            "nftables >= 0.9.1 and nf_tables"),
    Feature("interval sets", re.compile(r"flags interval"), "\t\tip6 saddr @s accept\n",
            "nftables >= 0.9 (set flags interval)"),
    Feature("IPv6 extension header matching", re.compile(r"\bexthdr |\bfrag |\brt type"),
            "\t\texthdr frag exists drop\n\t\trt type 0 drop\n", "nft_exthdr kernel module (CONFIG_NFT_EXTHDR)"),
    Feature("rate limits", re.compile(r"limit rate"), "\t\tlimit rate over 10/second drop\n",
            "nft_limit kernel module (CONFIG_NFT_LIMIT)"),
    Feature("connection tracking", re.compile(r"\bct (state|count)"), "\t\tct state established accept\n",
            "nf_conntrack and nft_ct kernel modules"),
    Feature("NFQUEUE (nft queue statement)", re.compile(r"\bqueue num"), "\t\tqueue num 0 bypass\n",
            "nft_queue and nfnetlink_queue kernel modules, or compile with --queue-backend xt"),
)
_EXTRA = {"named counters": "\tcounter x { }\n",
          "interval sets": "\tset s { type ipv6_addr; flags interval; elements = { 2001:db8::/32 } }\n"}


class Host:
    """Probes run in one throwaway network namespace (created on demand, always deleted)."""

    def __init__(self, runner: Runner = run_command) -> None:
        self.run = runner
        self.ns = f"v6pc-{os.getpid()}"
        self.ns_ok: bool | None = None
        self.ns_error = ""

    def netns(self) -> bool:
        if self.ns_ok is None:
            code, out = self.run(["ip", "netns", "add", self.ns], None)
            self.ns_ok, self.ns_error = code == 0, out
        return bool(self.ns_ok)

    def inside(self, argv: list[str], stdin: str | None = None) -> tuple[int, str]:
        return self.run(["ip", "netns", "exec", self.ns, *argv] if self.netns() else argv, stdin)

    def close(self) -> None:
        if self.ns_ok:
            self.run(["ip", "netns", "del", self.ns], None)


def _ipv6(host: Host) -> PrecheckItem:
    path = Path("/proc/sys/net/ipv6/conf/all/disable_ipv6")
    if not path.exists():
        return PrecheckItem(name="IPv6 enabled", ok=False, needed=True, evidence="the kernel has no IPv6 support",
                            fix="boot a kernel with IPv6 (not ipv6.disable=1)")
    disabled = path.read_text().strip() != "0"
    return PrecheckItem(name="IPv6 enabled", ok=not disabled, needed=True,
                        evidence=f"net.ipv6.conf.all.disable_ipv6 = {path.read_text().strip()}",
                        fix="sysctl -w net.ipv6.conf.all.disable_ipv6=0" if disabled else "")


def _nft_version(host: Host) -> tuple[PrecheckItem, bool]:
    code, out = host.run(["nft", "--version"], None)
    if code != 0:
        return PrecheckItem(name="nftables", ok=False, needed=True, evidence=out,
                            fix="apt-get install nftables (Debian/Ubuntu) or dnf install nftables"), False
    return PrecheckItem(name="nftables", ok=True, needed=True, evidence=out), True


def _feature(host: Host, feature: Feature, used: bool) -> PrecheckItem:
    ruleset = _T.format(extra=_EXTRA.get(feature.name, ""), body=feature.probe)
    code, out = host.inside(["nft", "-c", "-f", "-"], ruleset)
    return PrecheckItem(name=f"nft: {feature.name}", ok=code == 0, needed=used,
                        evidence="accepted by the kernel (nft -c)" if code == 0 else out.splitlines()[0] if out else
                        f"nft -c exited {code}", fix="" if code == 0 else feature.fix)


def _vlan(host: Host, needed: bool) -> PrecheckItem:
    name = "802.1Q VLANs"
    if not host.netns():
        present = Path("/proc/net/vlan").exists() or Path("/sys/module/8021q").exists()
        return PrecheckItem(name=name, ok=present, needed=needed,
                            evidence="8021q loaded" if present else "8021q not loaded (no netns to try it in)",
                            fix="" if present else "modprobe 8021q")
    steps = [["ip", "link", "add", "v6pca", "type", "veth", "peer", "name", "v6pcb"],
             ["ip", "link", "add", "link", "v6pca", "name", "v6pca.42", "type", "vlan", "id", "42"]]
    for argv in steps:
        code, out = host.inside(argv)
        if code != 0:
            return PrecheckItem(name=name, ok=False, needed=needed, evidence=out, fix="modprobe 8021q")
    return PrecheckItem(name=name, ok=True, needed=needed, evidence="created a VLAN link in a throwaway netns")


def _xt_queue(host: Host, needed: bool) -> PrecheckItem:
    name = "NFQUEUE (xt form, ip6tables -j NFQUEUE)"
    if shutil.which("ip6tables") is None and host.run(["ip6tables", "--version"], None)[0] != 0:
        return PrecheckItem(name=name, ok=False, needed=needed, evidence="ip6tables not found",
                            fix="apt-get install iptables")
    code, out = host.inside(["ip6tables", "-w", "-A", "INPUT", "-m", "mark", "--mark", "0x400000/0x400000",
                             "-j", "NFQUEUE", "--queue-num", "0", "--queue-bypass"])
    return PrecheckItem(name=name, ok=code == 0, needed=needed,
                        evidence="rule accepted in a throwaway netns" if code == 0 else out,
                        fix="" if code == 0 else "xt_NFQUEUE and nfnetlink_queue kernel modules")


def precheck(compiled: str = "", uses_vlan: bool = False, queue_backend: str = "nft",
             runner: Runner = run_command) -> PrecheckReport:
    """``compiled``: the table(s) the policy compiles to (features are taken from it); empty checks everything."""
    host = Host(runner)
    try:
        items = [_ipv6(host)]
        nft_item, have_nft = _nft_version(host)
        items.append(nft_item)
        if have_nft:
            for f in FEATURES:
                used = not compiled or bool(f.used.search(compiled))
                if f.name.startswith("NFQUEUE"):
                    used = used and queue_backend == "nft"
                items.append(_feature(host, f, used))
        items.append(_xt_queue(host, queue_backend == "xt"))
        items.append(_vlan(host, uses_vlan))
        items.append(PrecheckItem(name="network namespaces", ok=host.netns(), needed=False,
                                  evidence="created and deleted one" if host.netns() else host.ns_error,
                                  fix="" if host.netns() else "run as root (CAP_SYS_ADMIN) with iproute2 installed"))
    finally:
        host.close()
    return PrecheckReport(ok=all(i.ok for i in items if i.needed), items=items)
