"""Normalized policy -> ip6tables-restore / iptables-restore input, for hosts without nftables.

Each VM gets its own chains (``V6-<name>``, ``V6-<name>-ICMP``, ``V6-<name>-RA``), entered
from ``V6OPS-INPUT`` / ``V6OPS-PRE``; a chain declared in restore input is flushed and
refilled, so ``ip6tables-restore --noflush`` replaces exactly our chains, atomically per
table, and nothing else. The built-in chains jump to ours once (``hook_commands``).

Differences from the nftables output, stated rather than hidden:
* xtables has no ``fib`` expression; reverse path uses ``-m rpfilter`` in the raw table.
* the raw table hooks at priority -300, after conntrack defrag (-400): fragment rules
  there see individual fragments only while conntrack is not loaded in the namespace
  (or with ip6table_raw ``raw_before_defrag=1``).
* ``-m limit`` is the same token bucket idea but a different implementation, so the
  evaluator's packet-exact agreement is only claimed for the nftables output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from v6ops.policy.normalized import (
    FRAGMENT,
    PERMITTED_ROUTING_TYPES,
    FragmentHandling,
    InterTenant,
    NormalizedPolicy,
    ReversePath,
    SourcePolicy,
    registry_sources,
)

# Our entry chains: declared (so flushed and refilled) by every restore; the built-in
# chains jump to them once, installed by ``hook_commands`` (restore cannot say "add if missing").
HOOK_INPUT, HOOK_PRE = "V6OPS-INPUT", "V6OPS-PRE"

# ip6tables -m ipv6header names for the headers it can test.
_IPV6HEADER = {0: "hop", 43: "route", 60: "dst", 51: "auth", 50: "esp"}


def _chain(policy: NormalizedPolicy, suffix: str = "") -> str:
    """xtables chain names have at most 28 characters; a long VM name is cut and made unique with a hash."""
    room = 28 - len(suffix)
    name = "V6-" + policy.name
    if len(name) > room:
        name = name[: room - 7] + "-" + hashlib.sha1(policy.name.encode()).hexdigest()[:6]
    return name + suffix


def _source_rules(chain: str, source: SourcePolicy, version: int) -> list[str]:
    """BCP 38/84 for one IP version: allowed prefixes return, registry bogons and private sources drop,
    and with ``strict_ingress`` whatever else is left."""
    allowed = [p for p in source.ingress_prefixes if p.version == version]
    lines = [f"-A {chain} -s {p} -j RETURN" for p in allowed]
    if source.block_bogons:
        lines += [f"-A {chain} -s {p} -j DROP" for p in registry_sources("bogon", version)]
    if source.block_private:
        lines += [f"-A {chain} -s {p} -j DROP" for p in registry_sources("private", version)]
    if source.strict_ingress and allowed:
        lines.append(f"-A {chain} -j DROP")
    return lines


def _ipv6(policy: NormalizedPolicy) -> tuple[list[str], list[str]]:
    """(raw table lines, filter table lines) for one policy."""
    main, icmp, ra = _chain(policy), _chain(policy, "-ICMP"), _chain(policy, "-RA")
    raw_chain = _chain(policy, "-PRE")
    sv = policy.source
    raw = [f":{raw_chain} - [0:0]", f"-A {HOOK_PRE} -j {raw_chain}"]
    raw.append(f"-A {raw_chain} -p ipv6-icmp -m frag --fragfirst -m icmp6 --icmpv6-type 134 -j DROP")
    if policy.exthdr.fragments is FragmentHandling.BLOCK:
        raw.append(f"-A {raw_chain} -m frag --fragmore -j DROP")
        raw.append(f"-A {raw_chain} -m frag ! --fragfirst -j DROP")
    if sv.reverse_path is not ReversePath.OFF:
        loose = " --loose" if sv.reverse_path is ReversePath.LOOSE else ""
        raw.append(f"-A {raw_chain} ! -s fe80::/10 -m rpfilter{loose} --invert -j DROP")
    f = [f":{main} - [0:0]", f":{icmp} - [0:0]", f":{ra} - [0:0]"]
    iface = f" -i {policy.interface}" if policy.interface else ""
    f.append(f"-A {HOOK_INPUT}{iface} -j {main}")
    f.append(f"-A {main} -m rt --rt-type 0 -j DROP")
    ext = policy.exthdr
    if not ext.blocks(43):
        for rt_type in (0, 1, 3):
            if rt_type not in PERMITTED_ROUTING_TYPES:
                f.append(f"-A {main} -m rt --rt-type {rt_type} -j DROP")
    for number, name in _IPV6HEADER.items():
        if number not in (50, FRAGMENT) and ext.blocks(number):
            f.append(f"-A {main} -m ipv6header --soft --header {name} -j DROP")
    src_chain = _chain(policy, "-SRC")
    f.append(f":{src_chain} - [0:0]")
    f.append(f"-A {main} ! -s fe80::/10 -j {src_chain}")
    f += _source_rules(src_chain, sv, 6)
    iso = policy.isolation
    if iso.inter_tenant is InterTenant.BLOCK_ALL:
        f += [f"-A {main} -s {p} -j DROP" for p in iso.other_tenant_prefixes if p.version == 6]
    f.append(f"-A {main} -p ipv6-icmp -j {icmp}")
    for t in (1, 2, 3, 4, 144, 145, 146, 147):
        f.append(f"-A {icmp} -p ipv6-icmp --icmpv6-type {t} -j ACCEPT")
    f.append(f"-A {icmp} -p ipv6-icmp --icmpv6-type 128 -j RETURN")
    f.append(f"-A {icmp} -p ipv6-icmp --icmpv6-type 129 -j RETURN")
    f.append(f"-A {icmp} -p ipv6-icmp --icmpv6-type 134 -j {ra}")
    for t in (133, 135, 136, 141, 142, 148, 149, 151, 152, 153):
        f.append(f"-A {icmp} -p ipv6-icmp --icmpv6-type {t} -m hl --hl-eq 255 -j ACCEPT")
    f.append(f"-A {icmp} -p ipv6-icmp --icmpv6-type 137 -s fe80::/10 -m hl --hl-eq 255 -j ACCEPT")
    for t in (130, 131, 132, 143):
        f.append(f"-A {icmp} -p ipv6-icmp --icmpv6-type {t} -s fe80::/10 -m hl --hl-eq 1 -j ACCEPT")
    if policy.icmpv6.strict:
        f.append(f"-A {icmp} -j DROP")
    r = policy.ra
    if not r.enabled:
        f.append(f"-A {ra} -j ACCEPT")
    elif r.block_all:
        f.append(f"-A {ra} -j DROP")
    else:
        f.append(f"-A {ra} -m hl ! --hl-eq 255 -j DROP")
        f.append(f"-A {ra} ! -s fe80::/10 -j DROP")
        if r.allowed_routers:
            for router in r.allowed_routers:
                f.append(f"-A {ra} -s {router}/128 -g {ra}-OK")
            f.append(f"-A {ra} -j DROP")
        f.extend(_ra_tail(policy, ra))
    f.extend(_limits(policy, main))
    f.append(f"-A {main} -j ACCEPT")
    f = [line.replace(f"-g {ra}-OK", f"-g {_chain(policy, '-RAOK')}") for line in f]
    return raw, f


def _ra_tail(policy: NormalizedPolicy, ra: str) -> list[str]:
    """Allowed RAs: rate limit, then the guard (RA options) unless the policy has none to check."""
    ok = _chain(policy, "-RAOK")
    lines = [f":{ok} - [0:0]"]
    target = ok if policy.ra.allowed_routers else ra
    if policy.ra.max_per_minute:
        lines.append(f"-A {target} -m limit --limit {policy.ra.max_per_minute}/min "
                     f"--limit-burst {policy.ra.burst} -j {_chain(policy, '-RAQ')}")
        lines.append(f"-A {target} -j DROP")
        target = _chain(policy, "-RAQ")
        lines.insert(0, f":{target} - [0:0]")
    bypass = " --queue-bypass" if policy.guard.bypass else ""
    lines.append(f"-A {target} -j NFQUEUE --queue-num {policy.guard.queue_num}{bypass}")
    return lines


def _limits(policy: NormalizedPolicy, chain: str) -> list[str]:
    r = policy.rates
    out = []
    if r.pps:
        out.append(f"-A {chain} -m hashlimit --hashlimit-above {r.pps}/sec --hashlimit-burst {r.pps_burst or 5} "
                   f"--hashlimit-name {chain[:15]}-pps -j DROP")
    if r.connections:
        out.append(f"-A {chain} -m conntrack --ctstate NEW -m connlimit --connlimit-above {r.connections} "
                   "--connlimit-mask 0 -j DROP")
    if policy.services is not None:
        for proto, label in ((6, "tcp"), (17, "udp")):
            ports = sorted({p for s in policy.services if s.protocol == proto for p in s.ports})
            for start in range(0, len(ports), 15):  # multiport takes at most 15 ports
                chunk = ",".join(map(str, ports[start:start + 15]))
                out.append(f"-A {chain} -p {label} -m multiport --dports {chunk} -j ACCEPT")
            out.append(f"-A {chain} -p {label} -j DROP")
    return out


def compile_ip6tables(policies: Iterable[NormalizedPolicy]) -> str:
    """ip6tables-restore --noflush input."""
    raw: list[str] = []
    filt: list[str] = []
    for policy in policies:
        r, f = _ipv6(policy)
        raw += r
        filt += f
    head = ("# Generated by v6ops `v6ops policy compile --format iptables`; load with ip6tables-restore --noflush\n"
            "# then, once per host: " + "; ".join(hook_commands("ip6tables")) + "\n")
    raw = [f":{HOOK_PRE} - [0:0]", *raw]
    filt = [f":{HOOK_INPUT} - [0:0]", *filt]
    return head + "*raw\n" + "\n".join(_declarations_first(raw)) + "\nCOMMIT\n*filter\n" + \
        "\n".join(_declarations_first(filt)) + "\nCOMMIT\n"


def hook_commands(tool: str) -> list[str]:
    """Idempotent one-time jumps from the built-in chains into ours."""
    out = [f"{tool} -t filter -C INPUT -j {HOOK_INPUT} 2>/dev/null || {tool} -t filter -I INPUT -j {HOOK_INPUT}"]
    if tool == "ip6tables":
        out.append(f"{tool} -t raw -C PREROUTING -j {HOOK_PRE} 2>/dev/null || {tool} -t raw -I PREROUTING -j {HOOK_PRE}")
    return out


def compile_iptables4(policies: Iterable[NormalizedPolicy]) -> str:
    """iptables-restore --noflush input for the IPv4 half of a dual-stack VM."""
    lines: list[str] = []
    for policy in policies:
        chain = _chain(policy, "-4")
        lines.append(f":{chain} - [0:0]")
        iface = f" -i {policy.interface}" if policy.interface else ""
        lines.append(f"-A {HOOK_INPUT}{iface} -j {chain}")
        lines += _source_rules(chain, policy.source, 4)
    lines = [f":{HOOK_INPUT} - [0:0]", *lines]
    return ("# load with iptables-restore --noflush, then once per host: " + "; ".join(hook_commands("iptables")) + "\n"
            "*filter\n" + "\n".join(_declarations_first(lines)) + "\nCOMMIT\n")


def compile_iptables(policies: Iterable[NormalizedPolicy]) -> str:
    """Both halves, each a complete restore file, separated by a marker comment."""
    items = list(policies)
    return compile_ip6tables(items) + "# --- iptables-restore (IPv4) ---\n" + compile_iptables4(items)


def _declarations_first(lines: list[str]) -> list[str]:
    """restore needs every ``:CHAIN`` line before the rules that use it."""
    decl = list(dict.fromkeys(line for line in lines if line.startswith(":")))
    return decl + [line for line in lines if not line.startswith(":")]
