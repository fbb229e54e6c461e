"""Whole-capture evaluation, vectorised where the decision is stateless: the evaluator's throughput path.

The verdicts are exactly those of ``evaluate_frames`` (the full per-packet walk);
``tests/policy/test_batch.py`` checks that on generated mixes. For classic pcap
files with Ethernet or raw-IP framing:

1. one bulk read; a short loop finds the record offsets (each record's length
   says where the next begins), then numpy reads every record header and the
   first 50 octets of every packet at once;
2. the common case is classified with a few byte comparisons over those rows:
   well-formed IPv6 with no extension header carrying TCP, UDP, ICMPv6 echo, an
   ICMPv6 error or NS/NA, or with one Hop-by-Hop, Routing or Destination Options
   header before TCP/UDP. Its source verdict is computed once per distinct source;
   errors, NS/NA and the extension-header rules are decided right there (no state
   is involved);
3. in capture order, the full walk (``parse_ip`` + ``Evaluator.until_limits``) takes
   everything else (longer header chains, fragments, RAs, IPv4, VLAN tags, damage)
   up to the per-VM limits, and the echo limit runs; then the packet and byte token
   buckets run vectorised over every packet that reaches them
   (``NftLimit.over_many``); then ``ct count`` (``ConnectionTracker.over_each``, one
   key object per flow), services and the guard's verdict. The stages can run apart
   because the state before the limits (reassembly, RA and echo limits) and the
   state of the limits never touch each other.

Other files (pcapng, SLL, loopback) take ``evaluate_frames``. Results are parallel
lists rather than a ``Verdict`` per packet.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from v6ops.policy import rules
from v6ops.policy.evaluator import Evaluator, Verdict, connection_key, evaluate_frames
from v6ops.policy.normalized import NFT_EXTHDR_NAMES, PERMITTED_ROUTING_TYPES
from v6ops.policy.packet import parse_ip
from v6ops.policy.pcap import LINKTYPE_ETHERNET, LINKTYPE_IPV6, LINKTYPE_RAW, frame_of, read_capture

# What the classifier decided for a packet.
_FULL, _DECIDED, _TRANSPORT, _ECHO_REQUEST, _ECHO_REPLY = 0, 1, 2, 3, 4
_ROW = 50  # octets read per packet: 2 of ethertype, then the IPv6 header and 8 octets of upper layer
_NO_RULE = ""


@dataclass
class CaptureVerdicts:
    """Per packet, by index: timestamp, verdict and deciding rule."""

    timestamps: list[int] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.verdicts)


def evaluate_capture(evaluator: Evaluator, path: str | Path) -> CaptureVerdicts:
    data = Path(path).read_bytes()
    header = data[:4]
    little = header in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    classic = little or header in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
    linktype = -1
    if classic and len(data) >= 24:
        linktype = struct.unpack_from("<I" if little else ">I", data, 20)[0] & 0x0FFFFFFF
    if linktype not in (LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV6):
        out = CaptureVerdicts()
        for v in evaluate_frames(evaluator, read_capture(path)):
            out.timestamps.append(v.timestamp_ns)
            out.verdicts.append(v.verdict)
            out.rules.append(v.rule)
        return out
    nanos = header in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    return _evaluate_pcap(evaluator, data, little, nanos, 14 if linktype == LINKTYPE_ETHERNET else 0, linktype)


def _record_offsets(data: bytes, little: bool) -> tuple[list[int], str]:
    """Where each record header starts, and why the walk stopped early ("" when the file ends cleanly)."""
    length_at = struct.Struct("<I" if little else ">I").unpack_from
    size = len(data)
    starts: list[int] = []
    append = starts.append
    pos = 24
    while pos + 16 <= size:
        append(pos)
        pos += 16 + length_at(data, pos + 8)[0]
    if pos > size:
        return starts, "packet runs past the end of the file"
    if pos < size:
        starts.append(pos)
        return starts, "record header runs past the end of the file"
    return starts, ""


def _rows(buf: NDArray[np.uint8], at: NDArray[np.int64], width: int) -> NDArray[np.uint8]:
    """``width`` octets from each offset, one row per offset; rows that run past the end of the file
    are zero-padded (only those are copied one by one, not the file)."""
    limit = len(buf) - width
    inside = at <= limit
    if len(at) and inside.all():
        return sliding_window_view(buf, width)[at]
    out = np.zeros((len(at), width), np.uint8)
    if limit >= 0:
        out[inside] = sliding_window_view(buf, width)[at[inside]]
    for row in np.flatnonzero(~inside).tolist():
        start = int(at[row])
        piece = buf[start:start + width]
        out[row, :len(piece)] = piece
    return out


def _evaluate_pcap(evaluator: Evaluator, data: bytes, little: bool, nanos: bool, strip: int,
                   linktype: int) -> CaptureVerdicts:
    starts, tail_problem = _record_offsets(data, little)
    buf = np.frombuffer(data, np.uint8)
    at = np.asarray(starts, np.int64)
    heads = np.ascontiguousarray(_rows(buf, at, 16)).view("<u4" if little else ">u4").astype(np.int64)
    timestamps = heads[:, 0] * 1_000_000_000 + heads[:, 1] * (1 if nanos else 1000)
    caplen = heads[:, 2]
    ip_at = at + 16 + strip
    rows = _rows(buf, ip_at - 2, _ROW)
    classes = _classify(evaluator, rows, caplen - strip, strip)
    kind, decided, length = classes.kind, classes.decided, classes.length
    count = len(starts)
    if tail_problem:
        kind[-1] = _FULL  # the loop reports it
        if tail_problem.startswith("record header"):
            timestamps[-1] = 0

    ts_list = timestamps.tolist()
    rule_list: list[str] = decided.tolist()
    kinds = kind.tolist()
    keep = evaluator.keep_events
    drops: dict[int, Verdict] = {}  # drops the general path recorded, by index
    walked: dict[int, tuple[int, bytes, bytes]] = {}  # length, source, destination of full-walk packets
    before = dict(evaluator.counters)
    saved_drops = evaluator.drops
    evaluator.drops = []
    echo_limit = evaluator.echo_limit
    ip_list, caplen_list = ip_at.tolist(), caplen.tolist()
    keyed = bool(evaluator.connection_limit)
    # full-walk packets that go on to the limits: conntrack key, may start a connection, port blocked,
    # the rule when ``ct count`` and services let it through (the guard's verdict included)
    staged: dict[int, tuple[bytes | None, bool, bool, str]] = {}
    reaching = kind >= _TRANSPORT

    # Stage 1, in order: everything before the per-VM limits that keeps state (reassembly, RA and echo limits).
    stage1 = kind == _FULL
    if echo_limit is not None:
        stage1 |= kind == _ECHO_REQUEST
    for i in np.flatnonzero(stage1).tolist():
        now = ts_list[i]
        if kinds[i] == _ECHO_REQUEST:
            if echo_limit is not None and echo_limit.over(now, 1):
                rule_list[i] = "icmpv6-echo-rate"
                reaching[i] = False
            continue
        start = ip_list[i]
        ip: bytes | None = None
        if tail_problem and i == count - 1:
            cut = len(data) - starts[i] - (0 if tail_problem.startswith("record header") else 16)
            rule_list[i] = evaluator.malformed(now, i, cut, tail_problem).rule
        elif strip and not (caplen_list[i] >= 14 and data[start - 2] == 0x86 and data[start - 1] == 0xDD):
            # VLAN tags, IPv4, ARP, short frames: the capture reader strips the link layer
            frame = frame_of(i, now, linktype, data[start - strip:start - strip + caplen_list[i]])
            ip = frame.ip
            if ip is None:
                rule_list[i] = "non-ip" if frame.non_ip else \
                    evaluator.malformed(now, i, frame.length, frame.problem).rule
        else:
            ip = data[start:start - strip + caplen_list[i]]
        if ip is not None:
            packet = parse_ip(ip)
            outcome = evaluator.until_limits(packet, now)
            if isinstance(outcome, str):
                rule_list[i] = outcome
            else:
                whole, head, guard = outcome
                if head is None:
                    failed = evaluator.guard_check(whole) if guard else None  # stateless: decided now, used last
                    staged[i] = (connection_key(whole) if keyed else None, whole.icmp_type != 129,
                                 evaluator.port_blocked(whole.upper, whole.dport),
                                 failed or ("guard-accept" if guard else "policy-accept"))
                    length[i] = whole.length
                    reaching[i] = True
                else:  # accepted by an ICMPv6 rule (error, ND, MLD), which has no connection to confirm
                    rule_list[i] = evaluator.after_filter(whole, head, guard)[1]
            if keep:
                walked[i] = (len(ip), packet.src, packet.dst)
        if evaluator.drops:
            drops[i] = evaluator.drops.pop()

    # Stage 2, vectorised: the packet and byte token buckets.
    order = np.flatnonzero(reaching)
    for bucket, rule in ((evaluator.pps, "rate-pps"), (evaluator.bps, "rate-bandwidth")):
        if bucket is not None and len(order):
            over = bucket.over_many(timestamps[order], length[order])
            for i in order[over].tolist():
                rule_list[i] = rule
            order = order[~over]

    # Stage 3, in order: ``ct count``, then services and the guard; conntrack confirms what is accepted.
    indices = order.tolist()
    fast = kind[order] != _FULL
    transport = order[fast]
    ports = _rows(buf, ip_at[transport] + classes.upper_at[transport], 4)  # source and destination port
    keys = np.full(len(indices), None, dtype=object)
    if keyed:
        keys[fast] = _flow_keys(data, ip_at[transport], kind[transport], classes.upper[transport], ports)
    key_of: list[bytes | None] = keys.tolist()
    may_start = (kind[order] != _ECHO_REPLY).tolist()
    closed = np.zeros(len(indices), bool)
    closed[fast] = _port_blocked(evaluator, classes.upper[transport], ports)
    port_blocked = closed.tolist()
    accept_rule = np.where(classes.guarded[order], "guard-accept", "policy-accept").astype(object).tolist()
    for position in np.flatnonzero(~fast).tolist():
        key_of[position], may_start[position], port_blocked[position], accept_rule[position] = staged[indices[position]]
    if keyed:
        accepted = [not b and r in rules.ACCEPTING for b, r in zip(port_blocked, accept_rule, strict=True)]
        too_many = evaluator.conntrack.over_each(key_of, may_start, accepted, evaluator.connection_limit)
    else:
        too_many = [False] * len(indices)
    for i, limited, closed, rule in zip(indices, too_many, port_blocked, accept_rule, strict=True):
        rule_list[i] = "rate-connections" if limited else "service-port-blocked" if closed else rule
    evaluator.drops = saved_drops

    verdict_of = {rule: _verdict(rule) for rule in set(rule_list)}
    verdict_list = [verdict_of[rule] for rule in rule_list]
    if keep:
        for i, verdict in enumerate(verdict_list):
            if verdict == "drop":
                v = drops.get(i)
                if v is None:
                    start = ip_list[i]
                    size, src, dst = walked.get(i) or (caplen_list[i] - strip, data[start + 8:start + 24],
                                                       data[start + 24:start + 40])
                    v = Verdict(i, ts_list[i], verdict, rule_list[i], size, src, dst)
                evaluator.drops.append(v)
    # One tally in C instead of a dict update per packet; it replaces whatever the
    # general-path helpers counted along the way, so every packet counts exactly once.
    tally = Counter(before)
    tally.update(rule_list)
    evaluator.counters.clear()
    evaluator.counters.update(tally)
    return CaptureVerdicts(ts_list, verdict_list, rule_list)


def _verdict(rule: str) -> str:
    """What ``_decide`` and ``evaluate_frames`` pair with a deciding rule."""
    if rule in rules.ACCEPTING:
        return "accept"
    return {"reassembly": "reassemble", "non-ip": "not-ip"}.get(rule, "drop")


class _Classes(NamedTuple):
    """What ``_classify`` found, per packet."""

    kind: NDArray[np.int8]
    decided: NDArray[np.object_]  # the deciding rule for ``_DECIDED`` packets
    length: NDArray[np.int64]  # IPv6 length (header + payload), what the byte bucket counts
    upper: NDArray[np.uint8]  # TCP or UDP, for ``_TRANSPORT`` packets
    upper_at: NDArray[np.int64]  # offset of that header in the IPv6 packet
    guarded: NDArray[np.bool_]  # carries a header the compiled table marks for the guard


def _classify(evaluator: Evaluator, rows: NDArray[np.uint8], captured: NDArray[np.int64], strip: int) -> _Classes:
    """Sort packets by what decides them, from their first octets.

    A packet is the common case only when the full walk would find no damage and
    nothing stateful before the limits: version 6, a payload length that fits what
    was captured, a source other than ``::`` (whose ND exemption the full walk
    handles), and either no extension header with TCP, UDP or ICMPv6 (8 octets of
    it, so the echo identifier is there) or exactly one Hop-by-Hop, Routing or
    Destination Options header followed by TCP or UDP.
    """
    count = len(rows)
    ip = rows[:, 2:]
    version_ok = (ip[:, 0] >> 4) == 6
    if strip:
        version_ok &= (rows[:, 0] == 0x86) & (rows[:, 1] == 0xDD)
    nh = ip[:, 6]
    end = 40 + ((ip[:, 4].astype(np.int64) << 8) | ip[:, 5])
    src = np.ascontiguousarray(ip[:, 8:24]).view(">u8")
    unspecified = (src[:, 0] == 0) & (src[:, 1] == 0)
    whole = version_ok & (captured >= 40) & (end <= captured) & ~unspecified
    common = whole & (end >= np.where(nh == 6, 60, 48))
    icmp_type = ip[:, 40]
    transport = common & ((nh == 6) | (nh == 17))
    icmp = common & (nh == 58)
    echo_request, echo_reply = icmp & (icmp_type == 128), icmp & (icmp_type == 129)
    error = icmp & (icmp_type >= 1) & (icmp_type <= 4)
    neighbour = icmp & ((icmp_type == 135) | (icmp_type == 136))
    # One extension header (RFC 8200 4.3-4.6 layout: next header, length in 8 octets beyond the first 8).
    after = 40 + (ip[:, 41].astype(np.int64) + 1) * 8
    inner = ip[:, 40]
    single = whole & ((nh == 0) | (nh == 43) | (nh == 60)) & (end >= 48) & ((inner == 6) | (inner == 17)) \
        & (after + np.where(inner == 6, 20, 8) <= end)

    kind = np.full(count, _FULL, np.int8)
    kind[transport | single] = _TRANSPORT
    kind[echo_request] = _ECHO_REQUEST
    kind[echo_reply] = _ECHO_REPLY
    decided = np.full(count, _NO_RULE, dtype=object)
    decided[error] = "rfc4890-4.3.1"  # RFC 4890 4.3.1: errors pass before any rate limit
    decided[neighbour] = np.where(ip[neighbour, 7] == 255, "rfc4890-4.3.3-nd", "rfc4890-4.3.3-hop-limit").astype(object)
    kind[error | neighbour] = _DECIDED

    # The source verdict comes next for all of them: once per distinct source.
    candidates = np.flatnonzero(kind != _FULL)
    if len(candidates):
        first, inverse = _distinct_rows(src[candidates])
        by_source = np.array([evaluator.source_rule(bytes(ip[candidates[j], 8:24])) or _NO_RULE
                              for j in first.tolist()], dtype=object)
        source = by_source[inverse]
        dropped = source != _NO_RULE
        decided[candidates[dropped]] = source[dropped]
        kind[candidates[dropped]] = _DECIDED

    # ... except that the extension-header rules of chain ``filter`` come before it.
    routing = single & (nh == 43)
    rt_type = ip[:, 42]
    taken = np.zeros(count, bool)
    for rule, hit in (
        ("rfc5095-rh0", routing & (rt_type == 0)),
        ("rfc9288-3.4-routing-type", routing & evaluator.rt_allowed
         & ~np.isin(rt_type, np.fromiter(PERMITTED_ROUTING_TYPES, np.int64))),
        ("exthdr-not-allowed", single & np.isin(nh, np.fromiter(evaluator.blocked_visible, np.int64))),
    ):
        hit &= ~taken
        decided[hit] = rule
        kind[hit] = _DECIDED
        taken |= hit
    upper = np.where(single, inner, nh)
    upper_at = np.where(single, after, 40)
    guarded = single & np.isin(nh, np.fromiter(NFT_EXTHDR_NAMES, np.int64))  # the table marks what nft can see
    return _Classes(kind, decided, end, upper, upper_at, guarded)


def _distinct_rows(words: NDArray[np.uint64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(first row of each distinct row, distinct id per row) for rows of 64-bit words, by a hash checked exactly."""
    hashed = np.zeros(len(words), np.uint64)
    for column in range(words.shape[1]):
        hashed = (hashed ^ words[:, column]) * np.uint64(0x9E3779B97F4A7C15)
    _, first, inverse = np.unique(hashed, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not (words[first][inverse] == words).all():  # a hash collision: sort the rows themselves
        width = words.shape[1] * 8
        _, first, inverse = np.unique(np.ascontiguousarray(words).view(f"V{width}").ravel(), return_index=True,
                                      return_inverse=True)
    return first, inverse.ravel()


def _flow_keys(data: bytes, ip_at: NDArray[np.int64], kind: NDArray[np.int8], upper: NDArray[np.uint8],
               ports: NDArray[np.uint8]) -> NDArray[np.object_]:
    """The conntrack key of each common-case packet, one bytes object per flow (``connection_key``'s layout)."""
    if not len(ip_at):
        return np.empty(0, dtype=object)
    buf = np.frombuffer(data, np.uint8)
    rows = _rows(buf, ip_at, 48)
    words = np.empty((len(ip_at), 5), np.uint64)
    words[:, :4] = np.ascontiguousarray(rows[:, 8:40]).view(">u8")
    port_word = np.ascontiguousarray(ports).view(">u4")[:, 0].astype(np.uint64)
    ident = (rows[:, 44].astype(np.uint64) << np.uint64(8)) | rows[:, 45]
    words[:, 4] = np.where(kind == _TRANSPORT, port_word, (ident << np.uint64(16)) | ident) \
        | (upper.astype(np.uint64) << np.uint64(32))
    first, inverse = _distinct_rows(words)
    flows: list[bytes] = []
    for j in first.tolist():
        start = int(ip_at[j])
        if kind[j] == _TRANSPORT:
            flows.append(bytes((int(upper[j]),)) + data[start + 8:start + 40] + bytes(ports[j]))
        else:
            echo_id = data[start + 44:start + 46]
            flows.append(b"\x3a" + data[start + 8:start + 40] + echo_id + echo_id)
    shared = np.empty(len(flows), dtype=object)
    shared[:] = flows
    return shared[inverse]


def _port_blocked(evaluator: Evaluator, upper: NDArray[np.uint8], ports: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """The services rule (``Evaluator.port_blocked``) for packets with the given upper layer and ports."""
    if evaluator.tcp_ports is None:
        return np.zeros(len(upper), bool)
    dport = (ports[:, 2].astype(np.int64) << 8) | ports[:, 3]
    tcp_open = np.isin(dport, np.fromiter(evaluator.tcp_ports, np.int64))
    udp_open = np.isin(dport, np.fromiter(evaluator.udp_ports or (), np.int64))
    return ((upper == 6) & ~tcp_open) | ((upper == 17) & ~udp_open)
