"""Host firewall and listener parity audit: iptables-save, ip6tables-save, nft -j, ``ss -lntuH``.

The seed's most common mistake is a service filtered over IPv4 and wide open over IPv6 because only
one firewall was configured. Every check here asks the rule model (``host_rules``) what happens to a
concrete packet, so it follows jumps, policies and every base chain the packet meets.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v6ops.addr import Address
from v6ops.audit.findings import Check, Finding, Reference, catalogue, rfc
from v6ops.audit.host_rules import (
    ACCEPT,
    DROP,
    HostInputError,
    Packet,
    Ruleset,
    mentioned_ports,
    parse_iptables_save,
    parse_nft_json,
    verdict,
)
from v6ops.audit.rules import ICMPV6, TCP, UDP, protocol_name

LINK_LOCAL = Address.parse("fe80::1")
# RFC 4890 4.4.1: traffic to the host that must not be dropped. Errors arrive as conntrack RELATED to a
# flow; ND and MLD are not tracked (nf_conntrack_proto_icmpv6 marks them untracked).
ESSENTIAL_ICMPV6 = [
    ("destination-unreachable", 1, 0, "related", None, 64),
    ("packet-too-big", 2, 0, "related", None, 64),
    ("time-exceeded", 3, 0, "related", None, 64),
    ("parameter-problem (code 1)", 4, 1, "related", None, 64),
    ("parameter-problem (code 2)", 4, 2, "related", None, 64),
    ("mld-listener-query", 130, 0, "untracked", LINK_LOCAL, 1),
    ("nd-router-advert", 134, 0, "untracked", LINK_LOCAL, 255),
    ("nd-neighbor-solicit", 135, 0, "untracked", LINK_LOCAL, 255),
    ("nd-neighbor-advert", 136, 0, "untracked", LINK_LOCAL, 255),
]

CHECKS = catalogue([
    Check("host.fw.ipv6_open_ipv4_filtered", "Service reachable over IPv6 but filtered over IPv4", "HIGH", "Security",
          "A new connection to this port is accepted over IPv6 and dropped over IPv4: the IPv4 firewall's intent is "
          "bypassed over IPv6 (only one of the two firewalls was configured).",
          "Give ip6tables / the inet table the same rule as IPv4, or filter both families in one 'table inet'.",
          (rfc(4864, "4"), Reference("Seed", "004 'Always configure both firewalls'"))),
    Check("host.fw.ipv4_open_ipv6_filtered", "Service reachable over IPv4 but filtered over IPv6", "LOW", "Readiness",
          "A new connection to this port is accepted over IPv4 and dropped over IPv6: IPv6 clients cannot reach it.",
          "Add the IPv6 rule, or filter both families in one 'table inet'.", ()),
    Check("host.fw.ipv6_default_accept", "IPv6 input accepted by default", "HIGH", "Security",
          "A new IPv6 connection to a port no rule mentions is accepted: the IPv6 input policy is ACCEPT (or there "
          "is no IPv6 filter at all).",
          "Set the IPv6 INPUT policy to DROP (ip6tables -P INPUT DROP, or 'policy drop' in the inet input chain) "
          "after allowing the services and ICMPv6 essentials.", (rfc(4864, "4"),)),
    Check("host.fw.icmpv6_essential_dropped", "ICMPv6 message RFC 4890 says must not be dropped is dropped", "HIGH",
          "Reliability",
          "The firewall drops an ICMPv6 message a host needs: errors (path MTU discovery breaks without Packet Too Big) "
          "or neighbour discovery / MLD (the host loses its neighbours or routers).",
          "Accept ICMPv6 types 1, 2, 3, 4 (or ct state related) and link-local ND/MLD (133-136, 130-132, 143) with hop "
          "limit 255 / 1, before any drop.", (rfc(4890, "4.4.1"), rfc(8201, "4"), rfc(4861, "6.1"))),
    Check("host.fw.rh0_not_dropped", "Type 0 routing header not dropped", "MEDIUM", "Security",
          "A packet carrying a type 0 routing header reaches an open port: RH0 is deprecated (amplification and "
          "firewall evasion) and must be dropped.",
          "ip6tables -I INPUT -m rt --rt-type 0 -j DROP, or 'rt type 0 drop' in nftables.", (rfc(5095, "3"),)),
    Check("host.listen.ipv4_only", "Service listens on IPv4 only", "LOW", "Readiness",
          "A socket is bound to an IPv4 address with no IPv6 socket on the same port: the service is unreachable over "
          "IPv6 (and 'localhost', which resolves to ::1 first, fails for loopback services).",
          "Bind the service to :: (dual-stack, IPV6_V6ONLY=0) or add an IPv6 listener.", (rfc(4038, "6"),)),
    Check("host.listen.ipv6_only", "Service listens on IPv6 only (IPV6_V6ONLY)", "MEDIUM", "Readiness",
          "A socket is bound to [::] with IPV6_V6ONLY set (or to an IPv6 address) and nothing listens on IPv4 on the "
          "same port: IPv4 clients are refused. Often a surprise from net.ipv6.bindv6only=1 or a framework default.",
          "Clear IPV6_V6ONLY (ss shows *:PORT for a dual-stack socket) or add an IPv4 listener.", (rfc(3493, "5.3"),)),
])


@dataclass(frozen=True)
class Listener:
    protocol: int
    address: str  # as ss prints it, without brackets
    port: int
    family: int | None  # 4, 6, or None for a dual-stack wildcard socket (ss prints "*")
    process: str

    @property
    def loopback(self) -> bool:
        return self.address in ("127.0.0.1", "::1") or self.address.startswith("127.")


def parse_ss(text: str, source: str) -> list[Listener]:
    """``ss -lntuH`` (optionally with -p): Netid State Recv-Q Send-Q Local Peer [Process]."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) < 6 or parts[0] not in ("tcp", "udp", "tcp6", "udp6"):
            raise HostInputError(f"{source} line {n}: not 'ss -lntuH' output: {line.strip()[:60]!r}")
        local = parts[4]
        host, sep, port_text = local.rpartition(":")  # the last colon: IPv6 addresses have many
        if not sep or not port_text.isdigit():
            if port_text == "*":
                continue  # an unbound UDP socket
            raise HostInputError(f"{source} line {n}: local address {local!r} has no port")
        host = host.split("%", 1)[0]
        if host == "*":
            family, address = None, "*"
        elif host.startswith("["):
            family, address = 6, host.strip("[]")
        else:
            family, address = 4, host
        out.append(Listener(TCP if parts[0].startswith("tcp") else UDP, address, int(port_text), family,
                            " ".join(parts[6:])))
    return out


@dataclass
class HostInputs:
    iptables: str | None = None
    ip6tables: str | None = None
    nft_json: str | None = None
    ss: str | None = None
    names: dict[str, str] | None = None  # input -> file name (or "live")

    def rulesets(self) -> list[Ruleset]:
        names = self.names or {}
        out = []
        if self.iptables is not None:
            out.append(parse_iptables_save(self.iptables, 4, names.get("iptables", "iptables-save")))
        if self.ip6tables is not None:
            out.append(parse_iptables_save(self.ip6tables, 6, names.get("ip6tables", "ip6tables-save")))
        if self.nft_json is not None:
            skip = self.iptables is not None or self.ip6tables is not None
            out.append(parse_nft_json(self.nft_json, names.get("nft", "nft -j list ruleset"), skip_xt_tables=skip))
        return out


def nft_text_to_json(text: str, source: str) -> str:
    """A ``nft list ruleset`` text, read by nft itself in a throwaway network namespace (needs root)."""
    import os

    if shutil.which("nft") is None or shutil.which("ip") is None:
        raise HostInputError(f"{source}: text rulesets are read by nft itself: install nftables, or pass 'nft -j list ruleset'")
    name = f"v6ops-audit-{os.getpid()}"
    added = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if added.returncode != 0:
        raise HostInputError(f"{source}: text rulesets need a scratch network namespace (root): {added.stderr.strip()}; "
                             "or pass 'nft -j list ruleset' output")
    try:
        loaded = subprocess.run(["ip", "netns", "exec", name, "nft", "-f", "-"], input=text, capture_output=True, text=True)
        if loaded.returncode != 0:
            first = loaded.stderr.strip().splitlines()[0] if loaded.stderr.strip() else f"exit {loaded.returncode}"
            raise HostInputError(f"{source}: nft rejects the ruleset: {first}")
        listed = subprocess.run(["ip", "netns", "exec", name, "nft", "-j", "list", "ruleset"], capture_output=True, text=True)
        return listed.stdout
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def read_inputs(iptables: Path | None = None, ip6tables: Path | None = None, nft: Path | None = None,
                ss: Path | None = None) -> HostInputs:
    def read(path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise HostInputError(f"{path}: cannot read: {exc}") from None
    nft_text = read(nft)
    if nft_text is not None and nft is not None and not nft_text.lstrip().startswith("{"):
        nft_text = nft_text_to_json(nft_text, str(nft))
    return HostInputs(read(iptables), read(ip6tables), nft_text, read(ss),
                      {k: str(v) for k, v in (("iptables", iptables), ("ip6tables", ip6tables), ("nft", nft), ("ss", ss)) if v})


def collect_live(netns: str | None = None) -> HostInputs:
    """Run the tools on this host (or inside ``netns``): whatever of iptables-save, ip6tables-save, nft, ss exists."""
    prefix = ["ip", "netns", "exec", netns] if netns else []

    def run(*cmd: str) -> str | None:
        if shutil.which(cmd[0]) is None:
            return None
        done = subprocess.run([*prefix, *cmd], capture_output=True, text=True)
        if done.returncode != 0:
            raise HostInputError(f"live: {' '.join(cmd)} failed: {done.stderr.strip()[:200]}")
        return done.stdout
    inputs = HostInputs(run("iptables-save"), run("ip6tables-save"), run("nft", "-j", "list", "ruleset"), run("ss", "-lntuH"),
                        {"iptables": "live iptables-save", "ip6tables": "live ip6tables-save", "nft": "live nft -j",
                         "ss": "live ss -lntuH"})
    if inputs.iptables is None and inputs.ip6tables is None and inputs.nft_json is None:
        raise HostInputError("live: none of iptables-save, ip6tables-save, nft is installed")
    return inputs


def _free_port(ports: set[tuple[int, int]]) -> int:
    used = {p for _, p in ports}
    return next(p for p in range(61000, 65536) if p not in used)


def audit_host(inputs: HostInputs, host: str = "localhost") -> tuple[list[Finding], dict[str, Any]]:
    rulesets = inputs.rulesets()
    listeners = parse_ss(inputs.ss, (inputs.names or {}).get("ss", "ss")) if inputs.ss is not None else []
    findings: list[Finding] = []

    def emit(check_id: str, resource: str, rtype: str, message: str, evidence: dict[str, Any], locator: str, source: str) -> None:
        findings.append(Finding(CHECKS[check_id], resource, rtype, message, evidence, locator, host, "", source))

    fw_source = ", ".join(rs.source for rs in rulesets)
    ports = mentioned_ports(rulesets) | {(lst.protocol, lst.port) for lst in listeners if not lst.loopback}
    for proto, port in sorted(ports):
        v4 = verdict(rulesets, Packet(4, proto, port))
        v6 = verdict(rulesets, Packet(6, proto, port))
        where = f"{protocol_name(proto)}/{port}"
        evidence = {"ipv4": {"verdict": v4.action, "by": v4.by}, "ipv6": {"verdict": v6.action, "by": v6.by},
                    "listening": sorted({f"{lst.address}:{lst.port}" for lst in listeners
                                         if (lst.protocol, lst.port) == (proto, port)}),
                    "unevaluated_rules": sorted(set(v4.unknown + v6.unknown))}
        if v6.action == ACCEPT and v4.action == DROP:
            emit("host.fw.ipv6_open_ipv4_filtered", where, "port", f"{where} is accepted over IPv6 but dropped over IPv4",
                 evidence, where, fw_source)
        elif v4.action == ACCEPT and v6.action == DROP:
            emit("host.fw.ipv4_open_ipv6_filtered", where, "port", f"{where} is accepted over IPv4 but dropped over IPv6",
                 evidence, where, fw_source)

    probe = _free_port(ports)
    default6 = verdict(rulesets, Packet(6, TCP, probe))
    if default6.action == ACCEPT:
        emit("host.fw.ipv6_default_accept", "ipv6 input", "firewall",
             f"a new IPv6 TCP connection to unmentioned port {probe} is accepted ({default6.by})",
             {"probe": f"tcp/{probe}", "by": default6.by, "rulesets": [rs.source for rs in rulesets]}, "", fw_source)

    for name, itype, code, state, saddr, hl in ESSENTIAL_ICMPV6:
        v = verdict(rulesets, Packet(6, ICMPV6, icmp_type=itype, icmp_code=code, ct_state=state, saddr=saddr, hop_limit=hl))
        if v.action == DROP:
            emit("host.fw.icmpv6_essential_dropped", f"icmpv6 {name}", "icmpv6-type",
                 f"ICMPv6 {name} (type {itype} code {code}, ct {state}) is dropped ({v.by})",
                 {"type": itype, "code": code, "ct_state": state, "by": v.by, "unevaluated_rules": sorted(set(v.unknown))},
                 f"{itype}/{code}", fw_source)

    open6 = sorted(p for p in ports if verdict(rulesets, Packet(6, p[0], p[1])).action == ACCEPT) or [(TCP, probe)]
    proto, port = open6[0]
    rh0 = verdict(rulesets, Packet(6, proto, port, rh0=True))
    if rh0.action == ACCEPT and verdict(rulesets, Packet(6, proto, port)).action == ACCEPT:
        emit("host.fw.rh0_not_dropped", "ipv6 input", "firewall",
             f"a packet with a type 0 routing header to open {protocol_name(proto)}/{port} is accepted ({rh0.by})",
             {"probe": f"{protocol_name(proto)}/{port} with RH0", "by": rh0.by}, "", fw_source)

    ss_source = (inputs.names or {}).get("ss", "ss")
    by_port: dict[tuple[int, int], list[Listener]] = {}
    for lst in listeners:
        by_port.setdefault((lst.protocol, lst.port), []).append(lst)
    for (proto, port), group in sorted(by_port.items()):
        fams = {lst.family for lst in group}
        where = f"{protocol_name(proto)}/{port}"
        bound = sorted(f"{'[' + lst.address + ']' if lst.family == 6 else lst.address}:{lst.port}" for lst in group)
        if None in fams or fams == {4, 6}:
            continue
        if fams == {4}:
            emit("host.listen.ipv4_only", where, "listener", f"{where} listens on IPv4 only ({', '.join(bound)})",
                 {"bound": bound, "process": group[0].process}, where, ss_source)
        else:
            wildcard = any(lst.address == "::" for lst in group)
            emit("host.listen.ipv6_only", where, "listener",
                 f"{where} listens on IPv6 only ({', '.join(bound)}{', IPV6_V6ONLY set' if wildcard else ''})",
                 {"bound": bound, "v6only_wildcard": wildcard, "process": group[0].process}, where, ss_source)
    inputs_summary = {"rulesets": [{"source": rs.source, "chains": len(rs.chains),
                                    "rules": sum(len(c.rules) for c in rs.chains.values())} for rs in rulesets],
                      "listeners": len(listeners), "ports_checked": len(ports), "host": host}
    return findings, inputs_summary


def host_report(inputs: HostInputs, host: str = "localhost", mode: str = "files") -> dict[str, Any]:
    from v6ops.audit.report import build_report

    findings, summary = audit_host(inputs, host)
    return build_report("host", findings, CHECKS, {"mode": mode, **summary})
