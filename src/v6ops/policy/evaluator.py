"""Per-packet verdicts from the normalized policy, in the order the compiled nftables ruleset decides them.

The evaluator models the kernel pipeline the compiler targets, stage by stage:

1. ``pre_defrag`` (nft prerouting, priority -450): every frame as received, fragments included.
2. reassembly (nf_defrag_ipv6 / nf_defrag_ipv4, priority -400): fragments are held
   (verdict ``reassemble``) until the datagram is complete; the completing fragment
   carries the datagram's verdict.
3. ``filter`` (nft input, priority -10): source validation, extension headers, ICMPv6,
   RA guard, rate limits, connections, services.
4. the guard (NFQUEUE): RA validity and options, header-chain order and length, for
   packets the filter marked.

Rate limits copy the kernel's nft_limit token bucket (nanosecond tokens, bucket of
``burst`` packets, or ``rate + burst`` bytes for byte limits), so verdicts agree
packet by packet with the kernel when fed the capture's timestamps.
"""

from __future__ import annotations

import bisect
import functools
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from v6ops.addr import Address, Prefix, collapse
from v6ops.events import SecurityEvent
from v6ops.policy import rules
from v6ops.policy.normalized import (
    FRAGMENT,
    NFT_EXTHDR_NAMES,
    PERMITTED_ROUTING_TYPES,
    FragmentHandling,
    InterTenant,
    NormalizedPolicy,
    ReversePath,
    registry_sources,
)
from v6ops.policy.packet import ND_FIXED, Packet, parse_ip
from v6ops.policy.pcap import Frame

NS = 1_000_000_000
REASSEMBLY_TIMEOUT_NS = 60 * NS  # net.ipv6.ip6frag_time default
_ND_TYPES = frozenset({133, 134, 135, 136, 137})
_ICMP_ERRORS = frozenset({1, 2, 3, 4})
_MOBILE = frozenset({144, 145, 146, 147})
_MLD = frozenset({130, 131, 132, 143})
_LINK_SCOPE_255 = frozenset({141, 142, 148, 149, 151, 152, 153})
_DEPRECATED_ICMP = frozenset({138, 139, 140, 100, 101, 200, 201, 127, 255})
_UNSPECIFIED = bytes(16)
_VISIBLE_EXTHDRS = frozenset(NFT_EXTHDR_NAMES)
_UNKNOWN = object()


class AddressSet:
    """Membership in a set of prefixes via sorted, merged intervals (what an nft interval set does)."""

    def __init__(self, prefixes: tuple[Prefix, ...] | list[Prefix], version: int) -> None:
        spans = sorted((p.network, p.broadcast) for p in collapse([p for p in prefixes if p.version == version]))
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]
        self.cache: dict[bytes, bool] = {}

    def __len__(self) -> int:
        return len(self.starts)

    def __contains__(self, packed: bytes) -> bool:
        hit = self.cache.get(packed)
        if hit is None:
            value = int.from_bytes(packed, "big")
            i = bisect.bisect_right(self.starts, value) - 1
            hit = i >= 0 and value <= self.ends[i]
            if len(self.cache) < 65536:
                self.cache[packed] = hit
        return hit


class NftLimit:
    """The kernel's nft_limit token bucket (net/netfilter/nft_limit.c), in nanosecond tokens."""

    __slots__ = ("cost", "in_bytes", "last", "nsecs", "rate", "tokens", "tokens_max")

    def __init__(self, rate: int, unit_s: int, burst: int, in_bytes: bool) -> None:
        self.rate = rate
        self.nsecs = unit_s * NS
        self.in_bytes = in_bytes
        if in_bytes:
            self.tokens_max = self.nsecs * (rate + burst) // rate
        else:
            self.tokens_max = (self.nsecs // rate) * (burst or 5)
        self.tokens = self.tokens_max
        self.last: int | None = None
        self.cost = self.nsecs // rate

    def over(self, now_ns: int, length: int) -> bool:
        """True when the packet exceeds the rate (``limit rate over`` matches)."""
        last = self.last
        tokens = self.tokens + now_ns - (now_ns if last is None else last)
        if tokens > self.tokens_max:
            tokens = self.tokens_max
        self.last = now_ns
        left = tokens - (self.nsecs * length // self.rate if self.in_bytes else self.cost)
        if left >= 0:
            self.tokens = left
            return False
        self.tokens = tokens
        return True

    def over_many(self, now_ns: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.bool_]:
        """``over`` for a run of packets in order, vectorised between the packets it rejects.

        While nothing is rejected the bucket is ``tokens_i = min(tokens_(i-1) + dt_i, max) - cost_i``,
        which is a running minimum once the cumulative sum of ``dt - cost`` is taken out
        (u_i = min(u_(i-1), max - cost_i - S_i), tokens_i = u_i + S_i). The first negative
        ``tokens_i`` is the first rejection: it keeps its tokens (``over``), and the scan resumes
        after it. Dense rejections (a flood) go packet by packet instead of rescanning.
        """
        count = len(now_ns)
        out = np.zeros(count, bool)
        costs = self.nsecs * lengths // self.rate if self.in_bytes else np.full(count, self.cost, np.int64)
        start, window = 0, 256
        while start < count:
            if window < 32:  # rejections are dense: one by one is cheaper than a vector per rejection
                stop = min(count, start + 64)
                for i in range(start, stop):
                    out[i] = self.over(int(now_ns[i]), int(lengths[i]))
                start, window = stop, 64
                continue
            stop = min(count, start + window)
            times, cost = now_ns[start:stop], costs[start:stop]
            last = int(times[0]) if self.last is None else self.last
            steps = np.diff(times, prepend=last) - cost
            total = np.cumsum(steps)
            bound = np.minimum.accumulate(np.minimum(self.tokens_max - cost - total, self.tokens))
            tokens = bound + total
            rejected = np.flatnonzero(tokens < 0)
            if len(rejected) == 0:
                self.tokens, self.last = int(tokens[-1]), int(times[-1])
                start, window = stop, min(window * 2, 1 << 16)
                continue
            first = int(rejected[0])
            out[start + first] = True
            self.tokens, self.last = int(tokens[first] + cost[first]), int(times[first])
            start, window = start + first + 1, max(window // 4, 16)
        return out


class Verdict:
    """One packet's outcome; addresses stay packed until someone asks for text (that is the slow part)."""

    __slots__ = ("detail", "dst", "index", "length", "rule", "src", "timestamp_ns", "verdict")

    def __init__(self, index: int, timestamp_ns: int, verdict: str, rule: str, length: int,
                 src: bytes = b"", dst: bytes = b"", detail: str = "") -> None:
        self.index = index
        self.timestamp_ns = timestamp_ns
        self.verdict = verdict  # accept | drop | reassemble | not-ip
        self.rule = rule
        self.length = length
        self.src = src
        self.dst = dst
        self.detail = detail  # why a frame was malformed or not IP

    @property
    def reason(self) -> str:
        if self.detail:
            return self.detail
        return rules.RULES[self.rule].summary if self.rule in rules.RULES else self.rule

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "timestamp_ns": self.timestamp_ns, "verdict": self.verdict, "rule": self.rule,
                "reason": self.reason, "length": self.length, "src": address_text(self.src),
                "dst": address_text(self.dst)}

    def event(self, vm_id: str, customer_id: str = "") -> SecurityEvent:
        """The seed's ``SecurityEvent`` for a drop. Its id is derived from the VM, the packet and the rule,
        so replaying the same capture gives the same ids (a SIEM can de-duplicate re-deliveries)."""
        meta = rules.RULES[self.rule]
        event_id = str(uuid.uuid5(_EVENT_NAMESPACE, f"{vm_id}/{self.timestamp_ns}/{self.index}/{self.rule}"))
        return SecurityEvent.at_ns(
            self.timestamp_ns, event_id=event_id, vm_id=vm_id, customer_id=customer_id,
            event_type=meta.event, severity=meta.severity, description=f"{meta.summary} ({meta.source})",
            source_ip=address_text(self.src) or None, destination_ip=address_text(self.dst) or None,
            source="policy.evaluator",
            details={"rule": self.rule, "rfc": meta.source, "packet_index": self.index, "length": self.length,
                     **({"reason": self.detail} if self.detail else {})})


_EVENT_NAMESPACE = uuid.UUID("6f1c7a52-3b0e-4f7e-9a55-1d2a3c4b5e60")


@functools.lru_cache(maxsize=65536)
def address_text(packed: bytes) -> str:
    if not packed:
        return ""
    return str(Address(6 if len(packed) == 16 else 4, int.from_bytes(packed, "big")))


class _Fragments:
    """One datagram being reassembled."""

    __slots__ = ("first", "first_ns", "parts", "total")

    def __init__(self, now: int) -> None:
        self.first: Packet | None = None
        self.first_ns = now
        self.parts: list[tuple[int, int, bytes]] = []  # (offset, end, payload)
        self.total = -1


class Evaluator:
    """Stateful: token buckets, connections and reassembly queues persist across packets."""

    def __init__(self, policy: NormalizedPolicy, keep_events: bool = True) -> None:
        self.policy = policy
        src = policy.source
        ingress = src.ingress_prefixes
        self.ingress6 = AddressSet(ingress, 6)
        self.ingress4 = AddressSet(ingress, 4)
        self.bogon6 = AddressSet(registry_sources("bogon", 6), 6)
        self.bogon4 = AddressSet(registry_sources("bogon", 4), 4)
        self.private6 = AddressSet(registry_sources("private", 6), 6)
        self.private4 = AddressSet(registry_sources("private", 4), 4)
        self.routed6 = AddressSet(src.routed_prefixes, 6)
        self.others6 = AddressSet(policy.isolation.other_tenant_prefixes, 6)
        self.others4 = AddressSet(policy.isolation.other_tenant_prefixes, 4)
        self.routers = frozenset(a.packed for a in policy.ra.allowed_routers)
        self.spoof_check = src.strict_ingress and bool(len(self.ingress6))
        ra = policy.ra
        self.ra_limit = NftLimit(ra.max_per_minute, 60, ra.burst, False) if ra.max_per_minute else None
        rates = policy.rates
        self.pps = NftLimit(rates.pps, 1, rates.pps_burst, False) if rates.pps else None
        self.bps = NftLimit(rates.bytes_per_second, 1, rates.bytes_burst, True) if rates.bytes_per_second else None
        echo = policy.icmpv6.echo_per_second
        self.echo_limit = NftLimit(echo, 1, echo, False) if echo else None
        self.tcp_ports: frozenset[int] | None = None
        self.udp_ports: frozenset[int] | None = None
        if policy.services is not None:
            self.tcp_ports = frozenset(p for s in policy.services if s.protocol == 6 for p in s.ports)
            self.udp_ports = frozenset(p for s in policy.services if s.protocol == 17 for p in s.ports)
        ext = policy.exthdr
        self.blocked_visible = frozenset(h for h in _VISIBLE_EXTHDRS if h != FRAGMENT and ext.blocks(h))
        self.rt_allowed = not ext.blocks(43)
        self.connection_limit = rates.connections
        self.conntrack = ConnectionTracker()
        self.queues: dict[tuple[Any, ...], _Fragments] = {}
        self.counters: dict[str, int] = {}
        self._source_rules: dict[bytes, Any] = {}
        self.keep_events = keep_events
        self.drops: list[Verdict] = []

    # ------------------------------------------------------------------ entry points

    def evaluate(self, data: bytes, now_ns: int, index: int = 0) -> Verdict:
        """One captured IP packet (link layer already removed): the full per-packet walk."""
        p = parse_ip(data)
        verdict, rule = self._decide(p, now_ns)
        v = Verdict(index, now_ns, verdict, rule, len(data), p.src, p.dst)
        counters = self.counters
        counters[rule] = counters.get(rule, 0) + 1
        if verdict == "drop" and self.keep_events:
            self.drops.append(v)
        return v

    def malformed(self, now_ns: int, index: int, length: int, reason: str) -> Verdict:
        """A frame the capture reader could not even hand over as an IP packet."""
        self.counters["malformed"] = self.counters.get("malformed", 0) + 1
        v = Verdict(index, now_ns, "drop", "malformed", length, detail=reason)
        if self.keep_events:
            self.drops.append(v)
        return v

    def events(self) -> list[SecurityEvent]:
        """Security events for every drop so far (the VM is the policy's target, the customer its tenant)."""
        tenant = self.policy.isolation.tenant
        return [v.event(self.policy.name, tenant) for v in self.drops]

    def guard_check(self, p: Packet) -> str | None:
        """The checks nftables cannot express; the guard runs them on queued packets. None = pass."""
        if p.version == 6 and p.icmp_type == 134 and p.upper == 58 and self.policy.ra.needs_guard:
            icmp_len = p.length - p.upper_off
            if icmp_len < ND_FIXED[134] or p.nd_bad:
                return "rfc4861-6.1.2-length"
            blocked = self.policy.ra.blocked_options
            if blocked and any(o in blocked for o in p.nd_options):
                return "rfc6105-blocked-option"
        if p.chain:
            if p.order_bad:
                return "rfc8200-4.1-order"
            limit = self.policy.exthdr.max_chain_length
            if limit and len(p.chain) > limit:
                return "exthdr-chain-too-long"
        return None

    # ------------------------------------------------------------------ pipeline

    def source_rule(self, src: bytes) -> str | None:
        """``source6`` plus isolation for an IPv6 source, cached per address (the ``::`` ND exemption is decided before)."""
        rule = self._source_rules.get(src, _UNKNOWN)
        if rule is _UNKNOWN:
            rule = None if _link_local(src) else self._source6(src)
            if rule is None and self.policy.isolation.inter_tenant is InterTenant.BLOCK_ALL and len(self.others6) \
                    and src in self.others6:
                rule = "isolation-inter-tenant"
            if len(self._source_rules) < 1 << 20:
                self._source_rules[src] = rule
        return rule

    def limits(self, now: int, length: int, key: bytes | None, may_start: bool, port_blocked: bool,
               rates: bool = True) -> str | None:
        """The end of chain ``filter``: per-VM rate limits, ``ct count``, services. None = accepted.

        ``key`` is the packet's conntrack key, None when it has none or no connection limit is set;
        ``rates=False`` when the caller has already run the token buckets (``NftLimit.over_many``).
        """
        if rates and self.pps is not None and self.pps.over(now, 1):
            return "rate-pps"
        if rates and self.bps is not None and self.bps.over(now, length):
            return "rate-bandwidth"
        if key is not None and self.conntrack.over(key, self.connection_limit, may_start):
            return "rate-connections"
        if port_blocked:
            return "service-port-blocked"
        return None

    def port_blocked(self, upper: int, dport: int) -> bool:
        """The services rule: with services configured, only their TCP/UDP ports are open."""
        if self.tcp_ports is None or (upper != 6 and upper != 17):
            return False
        ports = self.tcp_ports if upper == 6 else self.udp_ports
        return ports is None or dport not in ports

    def _decide(self, p: Packet, now: int) -> tuple[str, str]:
        staged = self.until_limits(p, now)
        if isinstance(staged, str):
            return _verdict_of(staged), staged
        whole, rule, guard = staged
        if rule is None:
            key = connection_key(whole) if self.connection_limit else None
            rule = self.limits(now, whole.length, key, whole.icmp_type != 129,
                               self.port_blocked(whole.upper, whole.dport)) or "policy-accept"
        return self.after_filter(whole, rule, guard)

    def until_limits(self, p: Packet, now: int) -> str | tuple[Packet, str | None, bool]:
        """``pre_defrag``, reassembly and chain ``filter`` up to the per-VM limits.

        A deciding rule, or (whole datagram, rule, guard mark) where rule is None when the
        packet goes on to ``limits``. Only reassembly, the RA and echo limits keep state
        here, none of which ``limits`` touches: the batch path runs the stages apart.
        """
        if p.error is not None:
            return "malformed"
        if p.version == 6:
            rule = self._pre_defrag(p)
            if rule is not None:
                return rule
        if p.frag_offset >= 0 and not p.atomic:
            whole, rule = self._reassemble(p, now)
            if whole is None:
                return rule or "reassembly"
            p = whole
        head, guard = self._filter(p, now)
        return (p, head, guard) if head is None or head in rules.ACCEPTING else head

    def after_filter(self, p: Packet, rule: str, guard: bool) -> tuple[str, str]:
        """The filter's rule, then the guard for marked packets; conntrack confirms what is accepted."""
        if rule not in rules.ACCEPTING:
            return "drop", rule
        if guard:
            failed = self.guard_check(p)
            if failed is not None:
                return "drop", failed
            rule = "guard-accept"
        self._confirm(p)
        return "accept", rule

    def _pre_defrag(self, p: Packet) -> str | None:
        """Chain ``pre_defrag``: fragment rules must run before nf_defrag_ipv6 (priority -400) hides them."""
        if p.frag_offset < 0:
            return None
        if p.frag_m and p.plen & 7:
            return "rfc8200-4.5-fragment-length"
        if p.frag_offset == 0 and p.upper == 58 and p.icmp_type in _ND_TYPES:
            return "rfc6980-nd-fragment"
        if p.atomic:
            return None
        handling = self.policy.exthdr.fragments
        if handling is FragmentHandling.BLOCK:
            return "fragment-policy-block"
        if handling is FragmentHandling.REASSEMBLE and p.frag_offset == 0 and not p.chain_complete:
            return "rfc7112-incomplete-chain"
        return None

    def _reassemble(self, p: Packet, now: int) -> tuple[Packet | None, str | None]:
        key = (p.version, p.src, p.dst, p.frag_id, p.upper if p.version == 4 else 0)
        q = self.queues.get(key)
        if q is not None and now - q.first_ns > REASSEMBLY_TIMEOUT_NS:
            q = None
        if q is None:
            q = self.queues[key] = _Fragments(now)
        start = p.frag_pos + (8 if p.version == 6 else 0)
        payload = p.data[start:(40 + p.plen) if p.version == 6 else len(p.data)]
        begin, end = p.frag_offset, p.frag_offset + len(payload)
        for o_begin, o_end, _ in q.parts:
            if begin < o_end and o_begin < end:
                del self.queues[key]  # RFC 5722: discard the whole datagram
                return None, "rfc5722-overlap"
        q.parts.append((begin, end, payload))
        if begin == 0:
            q.first = p
        if not p.frag_m:
            q.total = end
        if q.first is None or q.total < 0:
            return None, None
        q.parts.sort()
        cursor = 0
        for o_begin, o_end, _ in q.parts:
            if o_begin != cursor:
                return None, None
            cursor = o_end
        if cursor != q.total:
            return None, None
        del self.queues[key]
        return _rebuild(q.first, b"".join(part for _, _, part in q.parts)), None

    def _filter(self, p: Packet, now: int) -> tuple[str | None, bool]:
        """Chain ``filter`` (input) up to the per-VM limits: (rule, guard mark); rule None = on to ``limits``."""
        policy = self.policy
        guard = False
        if p.version == 6:
            chain = p.chain
            if chain:
                if p.rt_type == 0:
                    return "rfc5095-rh0", False
                if self.rt_allowed and p.rt_type >= 0 and p.rt_type not in PERMITTED_ROUTING_TYPES:
                    return "rfc9288-3.4-routing-type", False
                blocked = self.blocked_visible
                if blocked and any(h in blocked for h in chain):
                    return "exthdr-not-allowed", False
                if any(h in _VISIBLE_EXTHDRS for h in chain):
                    guard = True
            src = p.src
            # DAD (RFC 4862 5.4) and MLDv2 reports (RFC 3810 5.2.13) come from ::
            dad = src == _UNSPECIFIED and p.upper == 58 and p.icmp_type in (135, 143)
            rule = None if dad else self.source_rule(src)
            if rule is not None:
                return rule, False
            if p.upper == 58:
                rule, ra_guard = self._icmpv6(p, now)
                if rule is not None:
                    return rule, guard or ra_guard
        else:
            rule = self._source4(p)
            if rule is not None:
                return rule, False
            if policy.isolation.inter_tenant is InterTenant.BLOCK_ALL and len(self.others4) and p.src in self.others4:
                return "isolation-inter-tenant", False
        return None, guard

    def _source6(self, src: bytes) -> str | None:
        """Chain ``source6`` (BCP 38 / BCP 84); link-local sources are valid on-link and exempt."""
        if src[0] == 0xFE and src[1] & 0xC0 == 0x80:
            return None
        sv = self.policy.source
        allowed = src in self.ingress6
        if sv.block_bogons and not allowed and src in self.bogon6:
            return "bcp84-bogon-source"
        if sv.block_private and not allowed and src in self.private6:
            return "bcp38-private-source"
        if self.spoof_check and not allowed:
            return "bcp38-spoofed-source"
        if sv.reverse_path is not ReversePath.OFF and src not in self.routed6:
            return "bcp84-reverse-path"
        return None

    def _source4(self, p: Packet) -> str | None:
        sv = self.policy.source
        src = p.src
        allowed = src in self.ingress4
        if sv.block_bogons and not allowed and src in self.bogon4:
            return "bcp84-bogon-source"
        if sv.block_private and not allowed and src in self.private4:
            return "bcp38-private-source"
        if sv.strict_ingress and len(self.ingress4) and not allowed:
            return "bcp38-spoofed-source"
        return None

    def _icmpv6(self, p: Packet, now: int) -> tuple[str | None, bool]:
        """Chain ``icmpv6`` (RFC 4890 4.3, RFC 4861): None means "continue with rate limits"."""
        t = p.icmp_type
        if t in _ICMP_ERRORS:
            return "rfc4890-4.3.1", False
        if t == 128 or t == 129:
            if t == 128 and self.echo_limit is not None and self.echo_limit.over(now, 1):
                return "icmpv6-echo-rate", False
            return None, False
        if t == 134:
            return self._ra_guard(p, now)
        if t in _ND_TYPES:
            if p.hlim != 255 or (t == 137 and not _link_local(p.src)):
                return "rfc4890-4.3.3-hop-limit", False
            return "rfc4890-4.3.3-nd", False
        if t in _MLD:
            if p.hlim != 1 or not (_link_local(p.src) or p.src == _UNSPECIFIED):
                return "rfc4890-4.3.3-hop-limit", False
            return "rfc4890-4.3.3-mld", False
        if t in _LINK_SCOPE_255:
            return ("rfc4890-4.3.3-nd", False) if p.hlim == 255 else ("rfc4890-4.3.3-hop-limit", False)
        if t in _MOBILE:
            return "rfc4890-4.3.2", False
        if t in _DEPRECATED_ICMP:
            return "rfc4890-4.3.5", False
        if self.policy.icmpv6.strict:
            return "rfc4890-4.3.4-unallocated", False
        return None, False

    def _ra_guard(self, p: Packet, now: int) -> tuple[str, bool]:
        """Chain ``ra_guard``: RFC 6105 RA-Guard with the RFC 4861 6.1.2 checks nft can express."""
        ra = self.policy.ra
        if not ra.enabled:
            return "rfc4890-4.3.3-nd", False
        if ra.block_all:
            return "rfc6105-block-all", False
        if p.hlim != 255:
            return "rfc4861-6.1.2-hop-limit", False
        if not _link_local(p.src):
            return "rfc4861-6.1.2-source", False
        if p.icmp_code != 0:
            return "rfc4861-6.1.2-code", False
        if self.routers and p.src not in self.routers:
            return "rfc6105-unknown-router", False
        if self.ra_limit is not None and self.ra_limit.over(now, 1):
            return "rfc6105-ra-rate", False
        return "rfc4890-4.3.3-nd", True

    def _confirm(self, p: Packet) -> None:
        """Conntrack confirms a connection only when its first packet is accepted."""
        if self.connection_limit:
            key = connection_key(p)
            if key is not None:
                self.conntrack.confirm(key)

    def summary(self) -> dict[str, int]:
        return dict(self.counters)


_PROTO_KEY = {6: b"\x06", 17: b"\x11", 58: b"\x3a"}


def _verdict_of(rule: str) -> str:
    """The verdict a rule decides before the limits: a held fragment, or a drop."""
    return "reassemble" if rule == "reassembly" else "drop"


def connection_key(p: Packet) -> bytes | None:
    """The conntrack key (protocol, src, dst, ports or echo id) a packet belongs to; ND and errors have none."""
    off = p.upper_off
    if p.upper == 6 or p.upper == 17:
        return _PROTO_KEY[p.upper] + p.src + p.dst + p.data[off:off + 4]
    if p.upper == 58 and p.icmp_type in (128, 129):
        ident = p.data[off + 4:off + 6]
        return b"\x3a" + p.src + p.dst + ident + ident
    return None


def _reply_key(key: bytes) -> bytes:
    """The key of the other direction: addresses swapped, ports swapped (IPv4 or IPv6 addresses)."""
    n = (len(key) - 5) // 2
    return key[:1] + key[1 + n:1 + 2 * n] + key[1:1 + n] + key[3 + 2 * n:5 + 2 * n] + key[1 + 2 * n:3 + 2 * n]


class ConnectionTracker:
    """What ``ct state new ... ct count over N`` sees (nf_conntrack + nf_conncount), as observed on Linux 6.18.

    * A connection is "new" until a packet comes back the other way; every new-state
      packet runs the count, so an unreplied flow is counted again on each packet.
    * The count is the rule's list: confirmed connections plus attempts the limit
      rejected, which stay listed until a later walk of the list evicts them (a new
      tuple walks the whole list; a known tuple stops the walk where it is found).
    * A rejected attempt is never confirmed.
    """

    def __init__(self) -> None:
        self.alive: dict[bytes, int] = {}  # confirmed: key -> position in the list
        self.dead: dict[bytes, int] = {}  # rejected, not yet evicted
        self.replied: set[bytes] = set()
        self.replies: set[bytes] = set()  # reply-direction keys of confirmed connections
        self.sequence = 0

    def over(self, key: bytes, limit: int, may_start: bool = True) -> bool:
        """Does this packet make the rule match? ``may_start`` is False for an echo reply (never NEW)."""
        position = self.alive.get(key)
        if position is not None and not self.dead:  # the common case: a known flow, nothing to evict
            return key not in self.replied and len(self.alive) > limit
        if key in self.replies:  # the reply direction: the connection is established, never new
            self.replied.add(_reply_key(key))
            return False
        if key in self.replied or not may_start:
            return False
        if position is not None:
            if self.dead:
                self.dead = {k: s for k, s in self.dead.items() if s > position}
        else:
            self.dead.clear()  # the walk for a new tuple passes (and evicts) every rejected entry
            self.sequence += 1
            self.dead[key] = self.sequence
        return len(self.alive) + len(self.dead) > limit

    def over_each(self, keys: list[bytes | None], may_start: list[bool], accepted: list[bool], limit: int) -> list[bool]:
        """``over`` for packets in order, each confirmed when it passes and ``accepted`` says nothing later drops it.

        The loop short-cuts what ``over`` does for a known flow: nothing to evict, or a
        rejected attempt listed after it (the walk stops at the flow and evicts nothing).
        """
        out: list[bool] = []
        append, alive, replied, replies = out.append, self.alive, self.replied, self.replies
        for key, start, accept in zip(keys, may_start, accepted, strict=True):
            if key is None:
                append(False)
                continue
            position = alive.get(key)
            if position is not None:
                dead = self.dead
                if not dead:
                    append(key not in replied and len(alive) > limit)
                    continue
                if start and key not in replies and key not in replied and min(dead.values()) > position:
                    append(len(alive) + len(dead) > limit)
                    continue
            over = self.over(key, limit, start)
            if not over and accept and key in self.dead:
                self.confirm(key)
            append(over)
        return out

    def confirm(self, key: bytes) -> None:
        """The packet that started ``key`` was accepted: conntrack confirms the connection."""
        position = self.dead.pop(key, None)
        if position is not None:
            self.alive[key] = position
            self.replies.add(_reply_key(key))


def _link_local(src: bytes) -> bool:
    return src[0] == 0xFE and src[1] & 0xC0 == 0x80


def _rebuild(first: Packet, payload: bytes) -> Packet:
    """The reassembled datagram, as nf_defrag hands it on: the Fragment header removed (RFC 8200 4.5)."""
    data = first.data
    if first.version == 4:
        ihl = first.frag_pos
        head = bytearray(data[:ihl])
        total = ihl + len(payload)
        head[2:4] = total.to_bytes(2, "big")
        head[6:8] = b"\x00\x00"
        return parse_ip(bytes(head) + payload)
    frag_pos = first.frag_pos
    head = bytearray(data[:frag_pos])
    # The Next Header field that pointed at the Fragment header now names what followed it.
    nh_pos, pos, current = 6, 40, data[6]
    while pos < frag_pos:
        nh_pos = pos
        hlen = (data[pos + 1] + 2) * 4 if current == 51 else (data[pos + 1] + 1) * 8
        current = data[pos]
        pos += hlen
    head[nh_pos] = data[frag_pos]
    total = len(head) - 40 + len(payload)
    head[4:6] = total.to_bytes(2, "big")
    return parse_ip(bytes(head) + payload)


def evaluate_frames(evaluator: Evaluator, frames: Iterable[Frame]) -> Iterator[Verdict]:
    """Verdicts for capture frames; damaged frames are dropped as malformed, non-IP frames are passed through."""
    for frame in frames:
        if frame.ip is not None:
            yield evaluator.evaluate(frame.ip, frame.timestamp_ns, frame.number)
        elif frame.non_ip:
            evaluator.counters["non-ip"] = evaluator.counters.get("non-ip", 0) + 1
            yield Verdict(frame.number, frame.timestamp_ns, "not-ip", "non-ip", frame.length, detail=frame.problem)
        else:
            yield evaluator.malformed(frame.timestamp_ns, frame.number, frame.length, frame.problem)
