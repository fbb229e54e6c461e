"""Host firewall rules (iptables-save, ip6tables-save, nft -j) in one model, and what they do to a packet.

The audit asks questions such as "is a new TCP connection to port 22 from an arbitrary internet source
accepted over IPv6?". Each parser turns its input into base chains of ``Rule``s; ``verdict`` walks
them the way netfilter does (base chains in hook and priority order, jump/goto/return, the chain
policy when a base chain runs out). A match the model does not know never matches, and is listed in
the verdict's ``unknown`` so a finding says what it could not evaluate.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from v6ops.addr import Address, Prefix, PrefixValueError
from v6ops.audit.rules import ICMP, ICMPV6, TCP, UDP, protocol_number

ACCEPT, DROP = "accept", "drop"
HOOK_ORDER = {"prerouting": 0, "input": 1}
# iptables tables that see locally delivered packets, with their netfilter priorities (NF_IP_PRI_*).
XT_BASE = {("raw", "PREROUTING"): ("prerouting", -300), ("mangle", "PREROUTING"): ("prerouting", -150),
           ("mangle", "INPUT"): ("input", -150), ("filter", "INPUT"): ("input", 0), ("security", "INPUT"): ("input", 50)}
XT_TABLES = {"filter", "raw", "mangle", "security", "nat"}
XT_TARGETS = {"ACCEPT": ACCEPT, "DROP": DROP, "REJECT": DROP, "RETURN": "return"}
XT_CONTINUE = {"LOG", "NFLOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "NOTRACK", "CT", "ULOG"}  # non-terminating targets
ICMPV6_NAMES = {"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "ttl-exceeded": 3, "parameter-problem": 4,
                "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
                "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "router-solicitation": 133,
                "nd-router-advert": 134, "router-advertisement": 134, "nd-neighbor-solicit": 135, "neighbour-solicitation": 135,
                "neighbor-solicitation": 135, "nd-neighbor-advert": 136, "neighbour-advertisement": 136,
                "neighbor-advertisement": 136, "nd-redirect": 137, "redirect": 137, "router-renumbering": 138,
                "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143}
ICMP_NAMES = {"echo-reply": 0, "destination-unreachable": 3, "echo-request": 8, "time-exceeded": 11, "parameter-problem": 12}


class HostInputError(ValueError):
    """A ruleset or listener table the audit cannot read; the message names the input."""


@dataclass(frozen=True)
class Packet:
    family: int
    protocol: int
    port: int = 0  # destination port (TCP/UDP)
    icmp_type: int = -1
    icmp_code: int = 0
    saddr: Address | None = None  # None: an arbitrary internet source
    ct_state: str = "new"  # new, related, established, untracked, invalid
    iif: str = "eth0"
    hop_limit: int = 64
    rh0: bool = False  # carries a type 0 routing header (RFC 5095)


@dataclass
class Match:
    kind: str  # protocol, dport, saddr, daddr, iif, ct, icmp, hoplimit, rt0, family, unknown
    values: Any
    negate: bool = False

    def test(self, p: Packet) -> bool | None:
        """True/False, or None when the model cannot evaluate it."""
        result: bool | None
        if self.kind == "protocol":
            result = p.protocol in self.values
        elif self.kind == "dport":
            if p.protocol not in (TCP, UDP):
                return False  # a port match implies TCP/UDP, even negated
            result = any(lo <= p.port <= hi for lo, hi in self.values)
        elif self.kind == "saddr":
            if p.saddr is None:  # an arbitrary source is inside only a /0
                result = any(pr.length == 0 for pr in self.values if pr.version == p.family)
            else:
                result = any(pr.version == p.family and p.saddr in pr for pr in self.values)
        elif self.kind == "daddr":
            result = True  # locally delivered: the rule is taken to name one of the host's own addresses
        elif self.kind == "iif":
            result = any(_ifname_matches(name, p.iif) for name in self.values)
        elif self.kind == "ct":
            result = p.ct_state in self.values
        elif self.kind == "icmp":
            want = ICMPV6 if p.family == 6 else ICMP
            if p.protocol != want:
                return False
            result = any(t in (-1, p.icmp_type) and c in (-1, p.icmp_code) for t, c in self.values)
        elif self.kind == "hoplimit":
            result = p.hop_limit in self.values
        elif self.kind == "rt0":
            result = p.rh0
        elif self.kind == "family":
            result = p.family in self.values
        else:
            return None
        return result != self.negate


def _ifname_matches(pattern: str, name: str) -> bool:
    if pattern.endswith("+") or pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


@dataclass
class Rule:
    matches: list[Match]
    verdict: str | None  # accept, drop, jump:X, goto:X, return, or None (continue: log, counter)
    text: str


@dataclass
class Chain:
    name: str
    rules: list[Rule] = field(default_factory=list)
    hook: str | None = None
    priority: int = 0
    policy: str = ACCEPT
    family: str = "ip6"  # ip, ip6, inet (nft)


@dataclass
class Ruleset:
    """Every chain of one input, keyed by (table, chain) per family."""

    source: str
    chains: dict[tuple[str, str, str], Chain] = field(default_factory=dict)  # (family, table, name)

    def base_chains(self, family: int) -> list[tuple[str, Chain]]:
        fam = "ip" if family == 4 else "ip6"
        out = [(t, c) for (f, t, _), c in self.chains.items() if c.hook in HOOK_ORDER and f in (fam, "inet")]
        return sorted(out, key=lambda tc: (HOOK_ORDER[tc[1].hook or "input"], tc[1].priority, tc[0], tc[1].name))


@dataclass
class Verdict:
    action: str
    by: str  # the rule or policy that decided
    unknown: list[str] = field(default_factory=list)


def _run(rs: Ruleset, fam: str, table: str, chain: Chain, p: Packet, unknown: list[str], depth: int = 0) -> tuple[str, str] | None:
    """The verdict of ``chain`` (None: fell off the end or returned)."""
    if depth > 32:
        raise HostInputError(f"{rs.source}: chain {chain.name} jumps more than 32 deep (a loop?)")
    for rule in chain.rules:
        ok = True
        for m in rule.matches:
            r = m.test(p)
            if r is None:
                unknown.append(rule.text)
                ok = False
                break
            if not r:
                ok = False
                break
        if not ok or rule.verdict is None:
            continue
        if rule.verdict in (ACCEPT, DROP):
            return rule.verdict, f"{table} {chain.name}: {rule.text}"
        if rule.verdict == "return":
            return None
        kind, _, target = rule.verdict.partition(":")
        sub = rs.chains.get((fam, table, target))
        if sub is None:
            raise HostInputError(f"{rs.source}: rule '{rule.text}' jumps to undefined chain {target}")
        got = _run(rs, fam, table, sub, p, unknown, depth + 1)
        if got is not None or kind == "goto":
            return got
    return None


def verdict(rulesets: list[Ruleset], p: Packet) -> Verdict:
    """What every base chain on the local-delivery path does to ``p``; the first drop wins."""
    unknown: list[str] = []
    decided_by = "no filtering rules: accepted"
    for rs in rulesets:
        for table, chain in rs.base_chains(p.family):
            got = _run(rs, chain.family, table, chain, p, unknown)
            action, by = got if got is not None else (chain.policy, f"{table} {chain.name}: policy {chain.policy}")
            if action == DROP:
                return Verdict(DROP, by, unknown)
            decided_by = by
    return Verdict(ACCEPT, decided_by, unknown)


def mentioned_ports(rulesets: list[Ruleset]) -> set[tuple[int, int]]:
    """(protocol, port) for every port a rule names (both ends of a range)."""
    out: set[tuple[int, int]] = set()
    for rs in rulesets:
        for chain in rs.chains.values():
            for rule in chain.rules:
                protos = next((m.values for m in rule.matches if m.kind == "protocol" and not m.negate), {TCP, UDP})
                for m in rule.matches:
                    if m.kind == "dport":
                        for lo, hi in m.values:
                            for proto in protos & {TCP, UDP}:
                                out |= {(proto, lo), (proto, hi)}
    return out


# --- iptables-save / ip6tables-save -------------------------------------------------------------

def _prefixes(text: str, where: str) -> list[Prefix]:
    try:
        return [Prefix.parse(part, strict=False) if "/" in part else Prefix.parse(f"{part}/{128 if ':' in part else 32}")
                for part in text.split(",")]
    except PrefixValueError as exc:
        raise HostInputError(f"{where}: {exc}") from None


def _ports(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        out.append((int(lo or 0), int(hi or 65535) if _ else int(lo)))
    return out


def _icmp_type(text: str, family: int) -> tuple[int, int]:
    names = ICMPV6_NAMES if family == 6 else ICMP_NAMES
    if text in ("any", "all"):
        return -1, -1
    if text in names:
        return names[text], -1
    t, _, c = text.partition("/")
    return int(t), int(c) if c else -1


def _xt_rule(tokens: list[str], family: int, where: str) -> tuple[str, Rule]:
    """``-A CHAIN ...`` tokens into a Rule."""
    chain = tokens[1]
    matches: list[Match] = []
    verdict_: str | None = None
    i, negate = 2, False
    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            negate, i = True, i + 1
            continue
        arg = tokens[i + 1] if i + 1 < len(tokens) else ""
        step = 2
        if tok in ("-p", "--protocol"):
            matches.append(Match("protocol", {protocol_number(arg, where)} if arg != "all" else set(range(256)), negate))
        elif tok in ("-s", "--source"):
            matches.append(Match("saddr", _prefixes(arg, where), negate))
        elif tok in ("-d", "--destination"):
            matches.append(Match("daddr", _prefixes(arg, where), negate))
        elif tok in ("-i", "--in-interface"):
            matches.append(Match("iif", [arg], negate))
        elif tok in ("-o", "--out-interface"):
            matches.append(Match("daddr", [], negate))  # no output interface on local delivery: always true
        elif tok == "-m":
            pass  # the module's own options follow
        elif tok in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            matches.append(Match("dport", _ports(arg), negate))
        elif tok in ("--ctstate", "--state"):
            matches.append(Match("ct", {s.lower() for s in arg.split(",")}, negate))
        elif tok in ("--icmpv6-type", "--icmp-type"):
            matches.append(Match("icmp", [_icmp_type(arg, family)], negate))
        elif tok == "--rt-type":
            matches.append(Match("rt0", None, negate) if arg == "0" else Match("unknown", tok))
        elif tok == "--hl-eq":
            matches.append(Match("hoplimit", {int(arg)}, negate))
        elif tok in ("-j", "--jump"):
            target = arg
            verdict_ = XT_TARGETS.get(target, None if target in XT_CONTINUE else f"jump:{target}")
            step = len(tokens) - i  # target options follow
        elif tok in ("-g", "--goto"):
            verdict_ = f"goto:{arg}"
        elif tok.startswith("-"):
            # an option of a module the model does not evaluate (limit, comment, recent, ...);
            # comments, logging and rate limits are not listed as unknown matches
            if tok not in ("--comment", "--limit", "--limit-burst", "--log-prefix", "--log-level"):
                matches.append(Match("unknown", f"{tok} {arg}".strip()))
        else:
            raise HostInputError(f"{where}: unexpected word {tok!r}")
        negate = False
        i += step
    return chain, Rule(matches, verdict_, " ".join(tokens[2:]))


def parse_iptables_save(text: str, family: int, source: str) -> Ruleset:
    """``iptables-save`` (family 4) or ``ip6tables-save`` (family 6) output."""
    rs = Ruleset(source)
    fam = "ip" if family == 4 else "ip6"
    table = None
    seen_table = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{source} line {n}"
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table, seen_table = line[1:], True
        elif line == "COMMIT":
            table = None
        elif table is None:
            raise HostInputError(f"{where}: {line[:40]!r} outside a *table ... COMMIT block (not {fam}tables-save output?)")
        elif line.startswith(":"):
            parts = line[1:].split()
            if len(parts) < 2:
                raise HostInputError(f"{where}: chain line {line!r} without a policy")
            hook, prio = XT_BASE.get((table, parts[0]), (None, 0))
            policy = ACCEPT if parts[1] in ("ACCEPT", "-") else DROP
            rs.chains[(fam, table, parts[0])] = Chain(parts[0], [], hook, prio, policy, fam)
        elif line.startswith("-A "):
            try:
                tokens = shlex.split(line)
            except ValueError as exc:
                raise HostInputError(f"{where}: {exc}") from None
            try:
                chain, rule = _xt_rule(tokens, family, where)
            except (ValueError, IndexError) as exc:
                raise HostInputError(f"{where}: cannot read rule {line!r}: {exc}") from None
            if (fam, table, chain) not in rs.chains:
                raise HostInputError(f"{where}: rule for undeclared chain {chain}")
            rs.chains[(fam, table, chain)].rules.append(rule)
        else:
            raise HostInputError(f"{where}: unexpected line {line[:60]!r}")
    if not seen_table and text.strip():
        raise HostInputError(f"{source}: no *table block: not {fam}tables-save output")
    for key in [k for k in rs.chains if k[1] == "nat"]:
        del rs.chains[key]
    return rs


# --- nft -j list ruleset ------------------------------------------------------------------------

def _nft_values(right: Any) -> list[Any]:
    if isinstance(right, dict) and "set" in right:
        return list(right["set"])
    if isinstance(right, list):
        return right
    return [right]


def _nft_ranges(right: Any) -> list[tuple[int, int]]:
    out = []
    for v in _nft_values(right):
        if isinstance(v, dict) and "range" in v:
            out.append((int(v["range"][0]), int(v["range"][1])))
        elif isinstance(v, int):
            out.append((v, v))
        else:
            raise ValueError(f"port value {v!r}")
    return out


def _nft_prefixes(right: Any) -> list[Prefix]:
    out = []
    for v in _nft_values(right):
        if isinstance(v, dict) and "prefix" in v:
            out.append(Prefix.parse(f"{v['prefix']['addr']}/{v['prefix']['len']}", strict=False))
        elif isinstance(v, dict) and "range" in v:
            raise ValueError("address ranges")
        else:
            out.append(Prefix.parse(f"{v}/{128 if ':' in str(v) else 32}"))
    return out


def _nft_icmp_types(right: Any, family: int) -> list[int]:
    names = ICMPV6_NAMES if family == 6 else ICMP_NAMES
    return [names[v] if isinstance(v, str) else int(v) for v in _nft_values(right)]


def _nft_match(m: dict[str, Any], family_hint: int) -> list[Match]:
    op = m.get("op", "==")
    negate = op == "!="
    if op not in ("==", "!=", "in"):
        return [Match("unknown", f"op {op}")]
    left, right = m.get("left", {}), m.get("right")
    if "payload" in left:
        proto, fld = left["payload"].get("protocol"), left["payload"].get("field")
        if fld == "dport" and proto in ("tcp", "udp", "th"):
            out = [Match("dport", _nft_ranges(right), negate)]
            if proto != "th":
                out.insert(0, Match("protocol", {TCP if proto == "tcp" else UDP}))
            return out
        if fld == "saddr" and proto in ("ip", "ip6"):
            return [Match("family", {4 if proto == "ip" else 6}), Match("saddr", _nft_prefixes(right), negate)]
        if fld == "daddr" and proto in ("ip", "ip6"):
            return [Match("family", {4 if proto == "ip" else 6}), Match("daddr", [], negate)]
        if fld in ("type", "code") and proto in ("icmpv6", "icmp"):
            fam = 6 if proto == "icmpv6" else 4
            if fld == "type":
                return [Match("family", {fam}), Match("icmp", [(t, -1) for t in _nft_icmp_types(right, fam)], negate)]
            return [Match("family", {fam}), Match("unknown", "icmp code")] if negate else \
                [Match("family", {fam}), Match("protocol", {ICMPV6 if fam == 6 else ICMP})]  # code refinements: type match decides
        if fld == "hoplimit" and proto == "ip6":
            return [Match("family", {6}), Match("hoplimit", {int(v) for v in _nft_values(right)}, negate)]
        if fld == "nexthdr" and proto == "ip6":
            return [Match("family", {6}), Match("protocol", {protocol_number(v, "nft") for v in _nft_values(right)}, negate)]
        if fld == "protocol" and proto == "ip":
            return [Match("family", {4}), Match("protocol", {protocol_number(v, "nft") for v in _nft_values(right)}, negate)]
        return [Match("unknown", f"{proto} {fld}")]
    if "meta" in left:
        key = left["meta"].get("key")
        if key == "l4proto":
            return [Match("protocol", {protocol_number(v, "nft") for v in _nft_values(right)}, negate)]
        if key in ("iifname", "iif"):
            return [Match("iif", [str(v) for v in _nft_values(right)], negate)]
        if key == "nfproto":
            return [Match("family", {4 if v == "ipv4" else 6 for v in _nft_values(right)}, negate)]
        if key in ("oifname", "oif"):
            return [Match("daddr", [], negate)]
        return [Match("unknown", f"meta {key}")]
    if "ct" in left and left["ct"].get("key") == "state":
        return [Match("ct", {str(v) for v in _nft_values(right)}, negate)]
    if "exthdr" in left:
        x = left["exthdr"]
        if x.get("name") == "rt" and x.get("field") == "type" and _nft_values(right) == [0]:
            return [Match("rt0", None, negate)]
        return [Match("unknown", f"exthdr {x.get('name')} {x.get('field')}")]
    if "rt" in left:
        return [Match("unknown", "rt")]
    return [Match("unknown", json.dumps(left, sort_keys=True)[:80])]


def _nft_rule(expr: list[dict[str, Any]], family: int) -> Rule:
    matches: list[Match] = []
    verdict_: str | None = None
    for e in expr:
        if "match" in e:
            try:
                matches += _nft_match(e["match"], family)
            except (ValueError, KeyError, TypeError, PrefixValueError) as exc:
                matches.append(Match("unknown", str(exc)))
        elif "accept" in e:
            verdict_ = ACCEPT
        elif "drop" in e or "reject" in e:
            verdict_ = DROP
        elif "return" in e:
            verdict_ = "return"
        elif "jump" in e:
            verdict_ = f"jump:{e['jump']['target']}"
        elif "goto" in e:
            verdict_ = f"goto:{e['goto']['target']}"
        elif "xt" in e:
            matches.append(Match("unknown", f"iptables-nft {e['xt'].get('name')}"))
            if e["xt"].get("type") == "target":
                verdict_ = None
        elif any(k in e for k in ("counter", "log", "limit", "meta", "mangle", "notrack", "ct count", "set", "quota")):
            if "limit" in e:
                matches.append(Match("unknown", "limit"))
            continue
        else:
            matches.append(Match("unknown", next(iter(e), "?")))
    text = json.dumps(expr, separators=(",", ":"))
    return Rule(matches, verdict_, text if len(text) < 200 else text[:197] + "...")


def parse_nft_json(text: str, source: str, skip_xt_tables: bool = False) -> Ruleset:
    """``nft -j list ruleset`` output. ``skip_xt_tables``: leave the iptables-nft tables to iptables-save."""
    try:
        doc = json.loads(text)
        items = doc["nftables"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HostInputError(f"{source}: not 'nft -j list ruleset' output: {exc}") from None
    rs = Ruleset(source)
    fams = {"ip": 4, "ip6": 6, "inet": 0}
    for item in items:
        obj = item.get("chain") or item.get("rule")
        if obj is None or obj.get("family") not in fams:
            continue
        if skip_xt_tables and obj["family"] in ("ip", "ip6") and obj["table"] in XT_TABLES:
            continue
        key = (obj["family"], obj["table"], obj["name"] if "chain" in item else obj["chain"])
        if "chain" in item:
            hook = obj.get("hook")
            rs.chains[key] = Chain(obj["name"], [], hook if obj.get("type", "filter") == "filter" else None,
                                   int(obj.get("prio", 0)), obj.get("policy", ACCEPT), obj["family"])
        else:
            if key not in rs.chains:
                raise HostInputError(f"{source}: rule in chain {key[2]} before the chain is listed")
            rs.chains[key].rules.append(_nft_rule(obj.get("expr", []), fams[obj["family"]]))
    return rs
