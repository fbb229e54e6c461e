"""A fast IPv6/IPv4 parser that walks the whole extension-header chain (RFC 8200 4.1, 4.5; RFC 7112).

It reads only what the policy needs, with bytes indexing and ``int.from_bytes``
instead of building objects per header, because the evaluator must keep up with
hundreds of thousands of packets per second. A packet that cannot be parsed is
not an exception: ``error`` says why, and the evaluator drops it as malformed.
"""

from __future__ import annotations

# Headers whose length field follows RFC 8200 4 (8-octet units, not counting the first 8).
_GENERIC_EXT = frozenset({0, 43, 60, 135, 139, 140, 253, 254})
# Minimum upper-layer header a first fragment must carry (RFC 7112 5: the whole header chain).
UPPER_MIN = {6: 20, 17: 8, 58: 4}
# ICMPv6 ND messages (RFC 4861 4): fixed part before the options.
ND_FIXED = {133: 8, 134: 16, 135: 24, 136: 24, 137: 40}
NO_NEXT_HEADER = 59


class Packet:
    """What the policy looks at in one IP datagram or fragment.

    Fields default at class level, so building one costs only the fields a packet
    actually has (most packets set a handful).
    """

    version = 0
    error: str | None = None
    src = b""
    dst = b""
    hlim = 0
    flowlabel = 0
    plen = 0
    chain_complete = True
    order_bad = False
    upper = -1
    upper_off = 0
    frag_offset = -1  # -1: no fragment header
    frag_m = 0
    frag_id = 0
    frag_pos = 0  # offset of the Fragment header, for reassembly
    atomic = False
    rt_type = -1
    rt_segleft = 0
    icmp_type = -1
    icmp_code = -1
    sport = -1
    dport = -1
    tcp_flags = 0
    nd_options: tuple[int, ...] | list[int] = ()
    nd_bad = False

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)
        self.chain: list[int] = []

    @property
    def is_fragment(self) -> bool:
        """A real fragment (not atomic): it needs reassembly."""
        return self.frag_offset >= 0 and not self.atomic


def parse_ipv6(data: bytes) -> Packet:
    """Parse one IPv6 packet starting at its fixed header."""
    p = Packet(data)
    p.version = 6
    n = len(data)
    if n < 40:
        p.error = "shorter than the 40-octet IPv6 header"
        return p
    if data[0] >> 4 != 6:
        p.error = f"IP version {data[0] >> 4} in an IPv6 frame"
        return p
    plen = (data[4] << 8) | data[5]
    p.plen = plen
    end = 40 + plen
    if plen == 0 and data[6] == 0:
        p.error = "jumbogram (payload length 0) is not supported"
        return p
    if end > n:
        p.error = f"payload length {plen} runs past the {n - 40} captured octets"
        return p
    p.length = end  # what the kernel counts (skb->len): link-layer padding excluded
    p.flowlabel = ((data[1] & 0x0F) << 16) | (data[2] << 8) | data[3]
    p.hlim = data[7]
    p.src = data[8:24]
    p.dst = data[24:40]
    nh = data[6]
    pos = 40
    chain = p.chain
    seen_dst = 0
    while True:
        if nh in _GENERIC_EXT or nh == 44 or nh == 51:
            if nh == 0 and chain:
                p.order_bad = True  # RFC 8200 4.1: Hop-by-Hop only right after the IPv6 header
            elif nh == 60:
                seen_dst += 1
                if seen_dst > 2:
                    p.order_bad = True
            elif nh in chain:
                p.order_bad = True  # RFC 8200 4.1: each header at most once (Destination Options twice)
            chain.append(nh)
            if nh == 44:
                if pos + 8 > end:
                    p.chain_complete = False
                    break
                word = (data[pos + 2] << 8) | data[pos + 3]
                p.frag_pos = pos
                p.frag_offset = word & 0xFFF8
                p.frag_m = word & 1
                p.frag_id = int.from_bytes(data[pos + 4:pos + 8], "big")
                p.atomic = p.frag_offset == 0 and p.frag_m == 0
                nh = data[pos]
                pos += 8
                if p.frag_offset:
                    # RFC 8200 4.5: the rest is fragment data; the chain is in the first fragment.
                    p.upper = -1
                    return p
                continue
            if pos + 2 > end:
                p.chain_complete = False
                break
            hlen = (data[pos + 1] + 2) * 4 if nh == 51 else (data[pos + 1] + 1) * 8
            if pos + hlen > end:
                p.chain_complete = False
                break
            if nh == 43:
                p.rt_type = data[pos + 2]
                p.rt_segleft = data[pos + 3]
            nh = data[pos]
            pos += hlen
            continue
        p.upper = nh
        p.upper_off = pos
        if nh == NO_NEXT_HEADER:
            return p
        need = UPPER_MIN.get(nh, 0)
        if pos + need > end:
            p.chain_complete = False
            if not p.is_fragment:
                p.error = f"upper-layer header {nh} is cut short"
            return p
        if nh == 58:
            p.icmp_type = data[pos]
            p.icmp_code = data[pos + 1]
            fixed = ND_FIXED.get(p.icmp_type)
            if fixed is not None:
                _nd_options(p, pos + fixed, end, pos + fixed > end)
        elif nh == 6 or nh == 17:
            p.sport = (data[pos] << 8) | data[pos + 1]
            p.dport = (data[pos + 2] << 8) | data[pos + 3]
            if nh == 6:
                p.tcp_flags = data[pos + 13]
        return p
    # The chain ran out of octets before reaching an upper-layer header.
    p.upper = -1
    if not p.is_fragment:
        p.error = "extension header chain runs past the end of the packet"
    return p


def _nd_options(p: Packet, pos: int, end: int, short: bool) -> None:
    """RFC 4861 4.6: options are (type, length in 8-octet units); length 0 is invalid (RFC 4861 6.1.2)."""
    if short:
        p.nd_bad = True
        return
    data = p.data
    options: list[int] = []
    p.nd_options = options
    while pos < end:
        if pos + 2 > end:
            p.nd_bad = True
            return
        olen = data[pos + 1] * 8
        if olen == 0 or pos + olen > end:
            p.nd_bad = True
            return
        options.append(data[pos])
        pos += olen


def parse_ipv4(data: bytes) -> Packet:
    """Parse one IPv4 packet; only what the dual-stack parts of the policy read."""
    p = Packet(data)
    p.version = 4
    n = len(data)
    if n < 20 or data[0] >> 4 != 4:
        p.error = "not a complete IPv4 header"
        return p
    ihl = (data[0] & 0x0F) * 4
    total = (data[2] << 8) | data[3]
    if ihl < 20 or total < ihl or total > n:
        p.error = f"IPv4 header length {ihl} / total length {total} inconsistent with {n} captured octets"
        return p
    p.plen = total - ihl
    p.length = total
    p.hlim = data[8]
    p.src = data[12:16]
    p.dst = data[16:20]
    word = (data[6] << 8) | data[7]
    offset = (word & 0x1FFF) * 8
    more = (word >> 13) & 1
    p.frag_id = (data[4] << 8) | data[5]
    if offset or more:
        p.frag_offset = offset
        p.frag_m = more
        p.frag_pos = ihl
    p.upper = data[9]
    p.upper_off = ihl
    if offset:
        return p
    if ihl + UPPER_MIN.get(p.upper, 0) > total:
        p.chain_complete = False
        return p
    if p.upper == 6 or p.upper == 17:
        p.sport = (data[ihl] << 8) | data[ihl + 1]
        p.dport = (data[ihl + 2] << 8) | data[ihl + 3]
        if p.upper == 6:
            p.tcp_flags = data[ihl + 13]
    return p


def parse_ip(data: bytes) -> Packet:
    """Dispatch on the version nibble."""
    if data and data[0] >> 4 == 4:
        return parse_ipv4(data)
    return parse_ipv6(data)
