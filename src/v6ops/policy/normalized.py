"""The one normalized policy that both the nftables compiler and the packet evaluator read.

Every choice the schema leaves open (defaults, contradictions, which numbers in
``allowed_types`` are extension headers) is resolved here once, so the compiled
ruleset and the evaluator cannot drift apart: they interpret the same plain,
frozen values.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from v6ops.addr import Address, Prefix, summarize_range
from v6ops.addr.registry import IPV4_ROWS, IPV6_ROWS, RegistryRow

# IPv6 extension headers (IANA "IPv6 Extension Header Types", RFC 8200 4, RFC 7045).
HBH, ROUTING, FRAGMENT, ESP, AH, DSTOPTS, MOBILITY, HIP, SHIM6 = 0, 43, 44, 50, 51, 60, 135, 139, 140
EXTENSION_HEADERS: frozenset[int] = frozenset({HBH, ROUTING, FRAGMENT, ESP, AH, DSTOPTS, MOBILITY, HIP, SHIM6, 253, 254})
# The ones nftables' ``exthdr`` expression can name, with their nft keyword.
NFT_EXTHDR_NAMES: dict[int, str] = {HBH: "hbh", ROUTING: "rt", FRAGMENT: "frag", DSTOPTS: "dst", MOBILITY: "mh"}

# RFC 4861 4.6 / RFC 4191 / RFC 8106 option types an RA guard may block.
ND_OPT_PREFIX_INFO, ND_OPT_MTU, ND_OPT_ROUTE_INFO, ND_OPT_RDNSS = 3, 5, 24, 25

# RFC 9288 3.4.4: at a transit node permit Routing Types 2 (MIPv6) and 4 (SRH); 0, 1 and 3 are deprecated.
PERMITTED_ROUTING_TYPES: frozenset[int] = frozenset({2, 4})

TABLE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class FragmentHandling(StrEnum):
    """What happens to fragments before the kernel's reassembly (nf_defrag_ipv6, priority -400).

    ``allow``: fragments go to reassembly after the RFC-mandated drops (RFC 8200 4.5
    length rule, RFC 6980 ND in fragments). ``reassemble``: additionally a first
    fragment must carry the whole header chain (RFC 7112, RFC 7113), so the rules
    after reassembly judge a datagram whose headers were all visible.
    ``block``: every fragment is dropped; atomic fragments (offset 0, M=0) are not
    fragments of anything and pass (RFC 6946).
    """

    ALLOW = "allow"
    REASSEMBLE = "reassemble"
    BLOCK = "block"


class ReversePath(StrEnum):
    OFF = "off"
    LOOSE = "loose"  # BCP 84 / RFC 3704 2.3: the source has any route
    STRICT = "strict"  # BCP 84 / RFC 3704 2.2: the route back leaves through the arrival interface


class InterTenant(StrEnum):
    BLOCK_ALL = "block_all"
    ALLOW_ALL = "allow_all"
    SELECTIVE = "selective"


class QueueBackend(StrEnum):
    """How packets reach the guard.

    ``nft``: the native ``queue`` statement (needs CONFIG_NFT_QUEUE). ``xt``: the nft
    chain sets a mark and an ip6tables ``NFQUEUE`` rule (xt compat) queues marked
    packets, for kernels built without nft_queue.
    """

    NFT = "nft"
    XT = "xt"


@dataclass(frozen=True)
class RAPolicy:
    """RFC 6105 RA-Guard plus the RFC 4861 6.1.2 validity rules."""

    enabled: bool = True
    block_all: bool = False
    allowed_routers: tuple[Address, ...] = ()
    max_per_minute: int = 0  # 0 = no rate limit
    burst: int = 5
    blocked_options: frozenset[int] = frozenset()

    @property
    def needs_guard(self) -> bool:
        """RA options come in any order; nft cannot parse them, the guard checks validity and options."""
        return self.enabled and not self.block_all


@dataclass(frozen=True)
class SourcePolicy:
    """BCP 38 (RFC 2827) ingress filtering and BCP 84 (RFC 3704) reverse-path checks."""

    strict_ingress: bool = False
    strict_egress: bool = False
    ingress_prefixes: tuple[Prefix, ...] = ()
    egress_prefixes: tuple[Prefix, ...] = ()
    block_private: bool = False
    block_bogons: bool = False
    reverse_path: ReversePath = ReversePath.OFF
    # Prefixes routed back through the protected interface: what the evaluator uses
    # in place of the kernel's FIB for the reverse-path check.
    routed_prefixes: tuple[Prefix, ...] = ()


@dataclass(frozen=True)
class ExtensionHeaderPolicy:
    """RFC 8200 4.1/4.5, RFC 5095, RFC 9288, RFC 7112 rules for the header chain."""

    allowed: frozenset[int] = EXTENSION_HEADERS
    max_chain_length: int = 0  # 0 = no limit
    fragments: FragmentHandling = FragmentHandling.REASSEMBLE

    def blocks(self, header: int) -> bool:
        return header not in self.allowed


@dataclass(frozen=True)
class ICMPv6Policy:
    """RFC 4890 section 4.3 (transit) and 4.4 (local) filtering."""

    # 4.3.4/4.3.5: drop router renumbering, node information, experimental and unallocated types.
    strict: bool = True
    echo_per_second: int = 0  # 0 = echo only limited by the per-VM rate


@dataclass(frozen=True)
class RateLimits:
    """Per-VM limits, enforced with nft ``limit`` (token bucket) and ``ct count``."""

    pps: int = 0
    pps_burst: int = 0
    bytes_per_second: int = 0
    bytes_burst: int = 0
    connections: int = 0
    method: str = "token_bucket"


@dataclass(frozen=True)
class Service:
    """An inbound upper-layer service the VM offers: protocol 6 or 17 and its ports."""

    protocol: int
    ports: tuple[int, ...]


@dataclass(frozen=True)
class Isolation:
    tenant: str = ""
    vlan: int = 0
    additional_vlans: tuple[int, ...] = ()
    namespace: str = ""
    bridge: str = ""
    inter_tenant: InterTenant = InterTenant.ALLOW_ALL
    other_tenant_prefixes: tuple[Prefix, ...] = ()


@dataclass(frozen=True)
class GuardPolicy:
    queue_num: int = 0
    bypass: bool = False  # False = fail closed: with no guard listening the kernel drops queued packets
    backend: QueueBackend = QueueBackend.NFT
    # One bit of the packet mark says "the guard must see this"; other bits stay free for other software.
    mark: int = 1 << 22


@dataclass(frozen=True)
class NormalizedPolicy:
    """One VM's or tenant's complete policy, ready to compile or evaluate."""

    name: str
    ra: RAPolicy = field(default_factory=RAPolicy)
    source: SourcePolicy = field(default_factory=SourcePolicy)
    exthdr: ExtensionHeaderPolicy = field(default_factory=ExtensionHeaderPolicy)
    icmpv6: ICMPv6Policy = field(default_factory=ICMPv6Policy)
    rates: RateLimits = field(default_factory=RateLimits)
    isolation: Isolation = field(default_factory=Isolation)
    guard: GuardPolicy = field(default_factory=GuardPolicy)
    # None = every upper-layer port is open; otherwise only these TCP/UDP services are.
    services: tuple[Service, ...] | None = None
    interface: str = ""  # restrict the table's filter chains to this input interface
    counters: bool = True

    def __post_init__(self) -> None:
        if not TABLE_NAME_RE.match(self.table):
            raise ValueError(f"policy name {self.name!r} does not make a valid nftables table name")

    @functools.cached_property
    def table(self) -> str:
        return "v6ops_" + re.sub(r"[^A-Za-z0-9_]", "_", self.name)


# ---------------------------------------------------------------- address sets


def _derived_ranges(
    rows: tuple[RegistryRow, ...], width: int, wanted: Callable[[RegistryRow | None], bool]
) -> list[Prefix]:
    """Address ranges whose most specific registry row satisfies ``wanted(row)`` (or no row and wanted(None)).

    Longest match matters: 2001::/23 is not a valid source but Teredo 2001::/32
    inside it is, so a plain union of rows would be wrong.
    """
    version = 4 if width == 32 else 6
    cuts = {0, 1 << width}
    for row in rows:
        cuts.add(row.prefix.network)
        cuts.add(row.prefix.network + (1 << (width - row.prefix.length)))
    edges = sorted(cuts)
    out: list[Prefix] = []
    start: int | None = None
    for low, high in itertools.pairwise(edges):
        covering = [r for r in rows if r.prefix.network <= low and high - 1 <= r.prefix.broadcast]
        best = max(covering, key=lambda r: r.prefix.length) if covering else None
        if wanted(best):
            start = low if start is None else start
        elif start is not None:
            out.extend(summarize_range(Address(version, start), Address(version, low - 1)))
            start = None
    if start is not None:
        out.extend(summarize_range(Address(version, start), Address(version, (1 << width) - 1)))
    return out


def _is_bogon_source(row: RegistryRow | None) -> bool:
    # RFC 6890: "Source" = False means the address must never be a source; IPv6 space
    # outside every row is unallocated (RFC 4291 2.4). Unspecified (::) is allowed for DAD.
    if row is None:
        return True
    return row.source is False or row.kind in ("deprecated",)


BOGON_SOURCES_V6: tuple[Prefix, ...] = tuple(_derived_ranges(IPV6_ROWS, 128, _is_bogon_source))
BOGON_SOURCES_V4: tuple[Prefix, ...] = tuple(
    _derived_ranges(IPV4_ROWS, 32, lambda row: row is not None and (row.source is False or row.kind == "deprecated"))
)
PRIVATE_SOURCES_V6: tuple[Prefix, ...] = tuple(r.prefix for r in IPV6_ROWS if r.kind == "ula")
PRIVATE_SOURCES_V4: tuple[Prefix, ...] = tuple(r.prefix for r in IPV4_ROWS if r.kind in ("private", "shared"))
_REGISTRY_SOURCES = {("bogon", 6): BOGON_SOURCES_V6, ("bogon", 4): BOGON_SOURCES_V4,
                     ("private", 6): PRIVATE_SOURCES_V6, ("private", 4): PRIVATE_SOURCES_V4}


def registry_sources(kind: str, version: int) -> tuple[Prefix, ...]:
    """The registry-derived source sets every backend drops: ``bogon`` (BCP 84) or ``private`` (BCP 38)."""
    return _REGISTRY_SOURCES[kind, version]
