"""Normalized policy -> nftables ruleset: one ``inet`` table per VM or tenant that v6ops owns.

Where each rule lives, and why:

* ``pre_defrag`` (hook prerouting, priority -450): fragment rules. nf_defrag_ipv6
  reassembles at priority -400 as soon as conntrack is in use (``ct count`` is), so a
  chain at a later priority never sees a fragment. Here: RFC 8200 4.5 length rule,
  RFC 6980 (ND in fragments), the fragment policy and RFC 7112 (first fragment must
  carry the whole header chain, checked by loading the last bit of the minimum
  upper-layer header: the load fails, and the ``return`` does not match, when it is
  not in this fragment).
* "reassemble" in nftables terms: fragments that pass ``pre_defrag`` are rebuilt by the
  kernel's nf_defrag_ipv6; every later chain (and the guard) judges the whole datagram,
  with the Fragment header removed.
* ``filter`` (hook input, priority -10, policy drop): routing header and extension-header
  allowlist, BCP 38/84 source checks (``source6``/``source4``), inter-tenant isolation,
  RFC 4890 ICMPv6 (``icmpv6``), RFC 6105 RA guard (``ra_guard``), per-VM rate limits,
  ``ct count`` connections and services. Upper layers are matched with ``meta l4proto``,
  which walks the header chain, never ``ip6 nexthdr``.
* ``deliver``: every accepting rule ends here; packets marked for the guard (RAs whose
  options must be checked, packets with extension headers whose order and length must
  be checked) go to NFQUEUE, natively with ``queue`` or, on kernels without nft_queue,
  through an ip6tables ``NFQUEUE`` rule on the mark (see ``xt_guard_rules``).
* ``egress`` (hook output): BCP 38 egress filtering of the VM's own traffic.

The file replaces the table atomically: ``table inet T {}`` (creates it if missing, so
the delete cannot fail) + ``delete table inet T`` + the definition, in one ``nft -f``
transaction. The ruleset is never flushed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from v6ops import __version__
from v6ops.addr import Prefix, format_ipv4, format_ipv6
from v6ops.policy.normalized import (
    FRAGMENT,
    NFT_EXTHDR_NAMES,
    PERMITTED_ROUTING_TYPES,
    FragmentHandling,
    InterTenant,
    NormalizedPolicy,
    QueueBackend,
    ReversePath,
    registry_sources,
)
from v6ops.policy.rules import RULES

PRE_DEFRAG_PRIORITY = -450
FILTER_PRIORITY = -10

# RFC 7112: the last bit of the minimum upper-layer header, per protocol (TCP 20, UDP 8, ICMPv6 4 octets).
_UPPER_LAST_BIT = {"tcp": 159, "udp": 63, "ipv6-icmp": 31}


_COUNT_STATEMENT = {rid: f"counter name {rule.counter} " for rid, rule in RULES.items()}
_COUNTER_OBJECT = {rid: f"\tcounter {rule.counter} {{ comment \"{rule.source}\"; }}\n" for rid, rule in RULES.items()}


def _elements(prefixes: Iterable[Prefix]) -> str:
    return ", ".join(str(p) for p in prefixes)


def _ranges(prefixes: Iterable[Prefix]) -> str:
    """Adjacent prefixes merged into ``first-last`` ranges: 421 bogon prefixes are 16 ranges."""
    spans: list[list[int]] = []
    version = 6
    for p in sorted(prefixes, key=lambda p: p.network):
        version = p.version
        if spans and spans[-1][1] + 1 >= p.network:
            spans[-1][1] = max(spans[-1][1], p.broadcast)
        else:
            spans.append([p.network, p.broadcast])
    fmt = format_ipv6 if version == 6 else format_ipv4
    return ", ".join(fmt(a) if a == b else f"{fmt(a)}-{fmt(b)}" for a, b in spans)


@functools.cache
def _static_set(name: str, version: int) -> str:
    """Sets derived from the address registry are the same in every table: render them once."""
    prefixes = registry_sources(name, version)
    kind = "ipv6_addr" if version == 6 else "ipv4_addr"
    return f"\tset {name}{version} {{ type {kind}; flags interval; elements = {{ {_ranges(prefixes)} }} }}\n"


class _Table:
    def __init__(self, policy: NormalizedPolicy) -> None:
        self.p = policy
        self.used: dict[str, None] = {}

    def count(self, rule_id: str) -> str:
        """The rule's named counter (so metrics can be read back with ``nft -j list counters``)."""
        statement = _COUNT_STATEMENT[rule_id]
        if not self.p.counters:
            return ""
        self.used[rule_id] = None
        return statement

    def drop(self, match: str, rule_id: str) -> str:
        return f"\t\t{match} {self.count(rule_id)}drop\n"

    def deliver(self, match: str, rule_id: str) -> str:
        return f"\t\t{match} {self.count(rule_id)}goto deliver\n"


def compile_table(policy: NormalizedPolicy) -> str:
    """The nft text that (re)defines this policy's table."""
    t = _Table(policy)
    p = policy
    name = p.table
    mark = f"0x{p.guard.mark:x}"
    set_mark = f"meta mark set meta mark | {mark}"
    sets: list[str] = []
    sv = p.source
    in6 = [x for x in sv.ingress_prefixes if x.version == 6]
    in4 = [x for x in sv.ingress_prefixes if x.version == 4]
    eg6 = [x for x in sv.egress_prefixes if x.version == 6]
    if in6:
        sets.append(f"\tset ingress6 {{ type ipv6_addr; flags interval; elements = {{ {_elements(in6)} }} }}\n")
    if in4:
        sets.append(f"\tset ingress4 {{ type ipv4_addr; flags interval; elements = {{ {_elements(in4)} }} }}\n")
    if eg6 and sv.strict_egress:
        sets.append(f"\tset egress6 {{ type ipv6_addr; flags interval; elements = {{ {_elements(eg6)} }} }}\n")
    if sv.block_bogons:
        sets += [_static_set("bogon", 6), _static_set("bogon", 4)]
    if sv.block_private:
        sets += [_static_set("private", 6), _static_set("private", 4)]
    routers = p.ra.allowed_routers
    if routers:
        sets.append(f"\tset routers6 {{ type ipv6_addr; elements = {{ {', '.join(str(a) for a in routers)} }} }}\n")
    iso = p.isolation
    others6 = [x for x in iso.other_tenant_prefixes if x.version == 6]
    others4 = [x for x in iso.other_tenant_prefixes if x.version == 4]
    isolate = iso.inter_tenant is InterTenant.BLOCK_ALL
    if isolate and others6:
        sets.append(f"\tset tenants6 {{ type ipv6_addr; flags interval; elements = {{ {_elements(others6)} }} }}\n")
    if isolate and others4:
        sets.append(f"\tset tenants4 {{ type ipv4_addr; flags interval; elements = {{ {_elements(others4)} }} }}\n")
    if p.services is not None:
        for proto, label in ((6, "tcp"), (17, "udp")):
            ports = sorted({port for s in p.services if s.protocol == proto for port in s.ports})
            body = f"; elements = {{ {', '.join(map(str, ports))} }}" if ports else ""
            sets.append(f"\tset {label}_ports {{ type inet_service{body}; }}\n")

    # --- pre_defrag: fragments as received (RFC 8200 4.5, RFC 6980, RFC 7112)
    pre = [f"\tchain pre_defrag {{\n\t\ttype filter hook prerouting priority {PRE_DEFRAG_PRIORITY}; policy accept;\n"]
    if p.interface:
        pre.append(f'\t\tiifname != "{p.interface}" accept\n')
    pre.append(t.drop("exthdr frag exists frag more-fragments 1 ip6 length & 0x7 != 0",
                      "rfc8200-4.5-fragment-length"))
    pre.append(t.drop("exthdr frag exists frag frag-off 0 meta l4proto ipv6-icmp icmpv6 type { 133, 134, 135, 136, 137 }",
                      "rfc6980-nd-fragment"))
    first_fragment = ""
    handling = p.exthdr.fragments
    if handling is FragmentHandling.BLOCK:
        pre.append(t.drop("exthdr frag exists frag frag-off != 0", "fragment-policy-block"))
        pre.append(t.drop("exthdr frag exists frag more-fragments 1", "fragment-policy-block"))
    elif handling is FragmentHandling.REASSEMBLE:
        pre.append("\t\texthdr frag exists frag frag-off 0 frag more-fragments 1 jump first_fragment\n")
        lines = [f"\t\tmeta l4proto {proto} @th,{bit},1 {{ 0, 1 }} return\n" for proto, bit in _UPPER_LAST_BIT.items()]
        lines.append(f"\t\tmeta l4proto != {{ {', '.join(_UPPER_LAST_BIT)} }} return\n")
        lines.append(f"\t\t{t.count('rfc7112-incomplete-chain')}drop\n")
        first_fragment = "\tchain first_fragment {\n" + "".join(lines) + "\t}\n"
    pre.append("\t}\n")

    # --- filter: whole datagrams
    f = [f"\tchain filter {{\n\t\ttype filter hook input priority {FILTER_PRIORITY}; policy drop;\n",
         '\t\tiif "lo" accept\n']
    if p.interface:
        f.append(f'\t\tiifname != "{p.interface}" accept\n')
    f.append(t.drop("exthdr rt exists rt type 0", "rfc5095-rh0"))
    ext = p.exthdr
    if not ext.blocks(43):
        types = ", ".join(str(x) for x in sorted(PERMITTED_ROUTING_TYPES))
        f.append(t.drop(f"exthdr rt exists rt type != {{ {types} }}", "rfc9288-3.4-routing-type"))
    for number, keyword in NFT_EXTHDR_NAMES.items():
        if number != FRAGMENT and ext.blocks(number):
            f.append(t.drop(f"exthdr {keyword} exists", "exthdr-not-allowed"))
    for keyword in NFT_EXTHDR_NAMES.values():
        f.append(f"\t\texthdr {keyword} exists {set_mark}\n")
    f.append("\t\tip6 saddr != fe80::/10 jump source6\n")
    f.append("\t\tmeta nfproto ipv4 jump source4\n")
    if isolate and others6:
        f.append(t.drop("ip6 saddr @tenants6", "isolation-inter-tenant"))
    if isolate and others4:
        f.append(t.drop("ip saddr @tenants4", "isolation-inter-tenant"))
    f.append("\t\tmeta l4proto ipv6-icmp jump icmpv6_filter\n")
    r = p.rates
    if r.pps:
        f.append(t.drop(f"limit rate over {r.pps}/second burst {r.pps_burst or 5} packets", "rate-pps"))
    if r.bytes_per_second:
        burst = f" burst {r.bytes_burst} bytes" if r.bytes_burst else ""
        f.append(t.drop(f"limit rate over {r.bytes_per_second} bytes/second{burst}", "rate-bandwidth"))
    if r.connections:
        f.append(t.drop(f"ct state new ct count over {r.connections}", "rate-connections"))
    if p.services is not None:
        f.append(t.drop("meta l4proto tcp tcp dport != @tcp_ports", "service-port-blocked"))
        f.append(t.drop("meta l4proto udp udp dport != @udp_ports", "service-port-blocked"))
    f.append(f"\t\t{t.count('policy-accept')}goto deliver\n")
    f.append("\t}\n")

    # --- source6 / source4: BCP 38 and BCP 84
    s6 = ["\tchain source6 {\n",
          "\t\tip6 saddr :: meta l4proto ipv6-icmp icmpv6 type { nd-neighbor-solicit, mld2-listener-report } return\n"]
    s4 = ["\tchain source4 {\n"]
    not_allowed6 = " ip6 saddr != @ingress6" if in6 else ""
    not_allowed4 = " ip saddr != @ingress4" if in4 else ""
    if sv.block_bogons:
        s6.append(t.drop(f"ip6 saddr @bogon6{not_allowed6}", "bcp84-bogon-source"))
        s4.append(t.drop(f"ip saddr @bogon4{not_allowed4}", "bcp84-bogon-source"))
    if sv.block_private:
        s6.append(t.drop(f"ip6 saddr @private6{not_allowed6}", "bcp38-private-source"))
        s4.append(t.drop(f"ip saddr @private4{not_allowed4}", "bcp38-private-source"))
    if sv.strict_ingress and in6:
        s6.append(t.drop("ip6 saddr != @ingress6", "bcp38-spoofed-source"))
    if sv.strict_ingress and in4:
        s4.append(t.drop("ip saddr != @ingress4", "bcp38-spoofed-source"))
    if sv.reverse_path is not ReversePath.OFF:
        fib = "fib saddr . iif oif missing" if sv.reverse_path is ReversePath.STRICT else "fib saddr oif missing"
        s6.append(t.drop(fib, "bcp84-reverse-path"))  # IPv4: the policy lists no IPv4 routes, so no uRPF
    s6.append("\t}\n")
    s4.append("\t}\n")

    # --- icmpv6: RFC 4890 4.3, RFC 4861 7.1, RFC 3810
    i = ["\tchain icmpv6_filter {\n"]
    i.append(t.deliver("icmpv6 type { 1, 2, 3, 4 }", "rfc4890-4.3.1"))
    echo = p.icmpv6.echo_per_second
    if echo:
        i.append(t.drop(f"icmpv6 type echo-request limit rate over {echo}/second burst {echo} packets",
                        "icmpv6-echo-rate"))
    i.append("\t\ticmpv6 type { 128, 129 } return\n")
    i.append("\t\ticmpv6 type 134 jump ra_guard\n")
    i.append(t.deliver("icmpv6 type { 133, 135, 136 } ip6 hoplimit 255", "rfc4890-4.3.3-nd"))
    i.append(t.deliver("icmpv6 type 137 ip6 hoplimit 255 ip6 saddr fe80::/10", "rfc4890-4.3.3-nd"))
    i.append(t.drop("icmpv6 type { 133, 135, 136, 137 }", "rfc4890-4.3.3-hop-limit"))
    i.append(t.deliver("icmpv6 type { 130, 131, 132, 143 } ip6 hoplimit 1 ip6 saddr { fe80::/10, ::/128 }",
                       "rfc4890-4.3.3-mld"))
    i.append(t.drop("icmpv6 type { 130, 131, 132, 143 }", "rfc4890-4.3.3-hop-limit"))
    i.append(t.deliver("icmpv6 type { 141, 142, 148, 149, 151, 152, 153 } ip6 hoplimit 255", "rfc4890-4.3.3-nd"))
    i.append(t.drop("icmpv6 type { 141, 142, 148, 149, 151, 152, 153 }", "rfc4890-4.3.3-hop-limit"))
    i.append(t.deliver("icmpv6 type { 144, 145, 146, 147 }", "rfc4890-4.3.2"))
    i.append(t.drop("icmpv6 type { 100, 101, 127, 138, 139, 140, 200, 201, 255 }", "rfc4890-4.3.5"))
    if p.icmpv6.strict:
        i.append(t.drop("icmpv6 type != { 128, 129 }", "rfc4890-4.3.4-unallocated"))
    i.append("\t}\n")

    # --- ra_guard: RFC 6105 with RFC 4861 6.1.2
    ra = p.ra
    g = ["\tchain ra_guard {\n"]
    if not ra.enabled:
        g.append(f"\t\t{t.count('rfc4890-4.3.3-nd')}goto deliver\n")
    elif ra.block_all:
        g.append(f"\t\t{t.count('rfc6105-block-all')}drop\n")
    else:
        g.append(t.drop("ip6 hoplimit != 255", "rfc4861-6.1.2-hop-limit"))
        g.append(t.drop("ip6 saddr != fe80::/10", "rfc4861-6.1.2-source"))
        g.append(t.drop("icmpv6 code != 0", "rfc4861-6.1.2-code"))
        if routers:
            g.append(t.drop("ip6 saddr != @routers6", "rfc6105-unknown-router"))
        if ra.max_per_minute:
            g.append(t.drop(f"limit rate over {ra.max_per_minute}/minute burst {ra.burst} packets", "rfc6105-ra-rate"))
        g.append(f"\t\t{set_mark}\n")
        g.append(f"\t\t{t.count('rfc4890-4.3.3-nd')}goto deliver\n")
    g.append("\t}\n")

    # --- deliver: hand marked packets to the guard
    d = ["\tchain deliver {\n"]
    if p.guard.backend is QueueBackend.NFT:
        bypass = " bypass" if p.guard.bypass else ""
        d.append(f"\t\tmeta mark & {mark} == {mark} queue num {p.guard.queue_num}{bypass}\n")
    d.append("\t\taccept\n\t}\n")

    # --- egress: BCP 38 for what the VM sends
    e = ["\tchain egress {\n\t\ttype filter hook output priority -10; policy accept;\n"]
    if sv.strict_egress and eg6:
        e.append(t.drop("ip6 daddr != @egress6 ip6 daddr != fe80::/10 ip6 daddr != ff00::/8", "bcp38-egress"))
    e.append("\t}\n")

    counters = "".join(_COUNTER_OBJECT[rid] for rid in t.used)
    header = (f"# Generated by v6ops {__version__} `v6ops policy compile` from policy {p.name!r}.\n"
              f"# v6ops owns table inet {name} and replaces it atomically; edits here are lost.\n")
    body = "".join([*sets, counters, *pre, first_fragment, *f, *s6, *s4, *i, *g, *d, *e])
    return f"{header}table inet {name} {{}}\ndelete table inet {name}\ntable inet {name} {{\n{body}}}\n"


def compile_ruleset(policies: Iterable[NormalizedPolicy]) -> str:
    """Several tables in one file: one ``nft -f`` transaction replaces them all or none."""
    seen: dict[str, str] = {}
    parts = []
    for p in policies:
        if p.table in seen:
            raise ValueError(f"targets {seen[p.table]!r} and {p.name!r} would share nftables table {p.table}")
        seen[p.table] = p.name
        parts.append(compile_table(p))
    return "".join(parts)


def xt_guard_rules(policy: NormalizedPolicy) -> str:
    """ip6tables-restore input that queues marked packets, for kernels without nft_queue.

    It runs in filter INPUT (priority 0), after our ``filter`` chain (priority -10) accepted
    and marked the packet. Without ``--queue-bypass`` a missing guard means drop (fail-closed).
    """
    g = policy.guard
    bypass = " --queue-bypass" if g.bypass else ""
    mark = f"0x{g.mark:x}"
    return ("*filter\n"
            f"-A INPUT -m mark --mark {mark}/{mark} -m comment --comment v6ops-guard-{policy.name}"
            f" -j NFQUEUE --queue-num {g.queue_num}{bypass}\n"
            "COMMIT\n")
