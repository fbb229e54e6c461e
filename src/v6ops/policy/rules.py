"""The catalogue of rules the compiler emits and the evaluator reports, with the RFC each comes from.

One rule id names the same decision in three places: the nft named counter
(``-`` becomes ``_``), the evaluator's verdict and the security event it raises.
Event types and severities are the seed's ``SecurityEventType``/``SecuritySeverity``
from :mod:`v6ops.events`, the one event model that every sink delivers.
"""

from __future__ import annotations

from dataclasses import dataclass

from v6ops.events import EventType, Severity


@dataclass(frozen=True)
class Rule:
    id: str
    source: str  # the RFC section (or policy field) the rule implements
    event: EventType
    severity: Severity
    summary: str

    @property
    def counter(self) -> str:
        return self.id.replace("-", "_").replace(".", "_")


_E, _S = EventType, Severity

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("malformed", "RFC 8200 section 3, 4", _E.UNKNOWN, _S.WARNING, "truncated or inconsistent packet"),
        Rule("rfc8200-4.5-fragment-length", "RFC 8200 section 4.5", _E.EXTENSION_HEADER_BLOCKED, _S.WARNING,
             "fragment with M=1 whose length is not a multiple of 8"),
        Rule("rfc5722-overlap", "RFC 5722 section 4, RFC 8200 section 4.5", _E.EXTENSION_HEADER_BLOCKED,
             _S.ERROR, "overlapping fragments: the whole datagram is discarded"),
        Rule("rfc6980-nd-fragment", "RFC 6980 section 5", _E.RA_BLOCKED, _S.ERROR,
             "Neighbor Discovery message inside a fragment"),
        Rule("fragment-policy-block", "extension_headers.fragment_policy", _E.EXTENSION_HEADER_BLOCKED, _S.WARNING,
             "fragments are blocked by policy"),
        Rule("rfc7112-incomplete-chain", "RFC 7112 section 5, RFC 7113 section 3", _E.EXTENSION_HEADER_BLOCKED,
             _S.ERROR, "first fragment without the whole header chain"),
        Rule("rfc5095-rh0", "RFC 5095 section 3", _E.EXTENSION_HEADER_BLOCKED, _S.ERROR,
             "routing header type 0"),
        Rule("rfc9288-3.4-routing-type", "RFC 9288 section 3.4.4", _E.EXTENSION_HEADER_BLOCKED, _S.WARNING,
             "routing header type other than 2 or 4"),
        Rule("exthdr-not-allowed", "extension_headers.allowed_types / mode", _E.EXTENSION_HEADER_BLOCKED,
             _S.WARNING, "extension header type not allowed by policy"),
        Rule("rfc8200-4.1-order", "RFC 8200 section 4.1", _E.EXTENSION_HEADER_BLOCKED, _S.WARNING,
             "Hop-by-Hop not first, or a header repeated"),
        Rule("exthdr-chain-too-long", "extension_headers.max_chain_length", _E.EXTENSION_HEADER_BLOCKED,
             _S.WARNING, "more extension headers than max_chain_length"),
        Rule("bcp84-bogon-source", "BCP 84 (RFC 3704), RFC 6890", _E.SOURCE_VALIDATION_FAILED, _S.ERROR,
             "source is a bogon (never a valid source)"),
        Rule("bcp38-private-source", "BCP 38 (RFC 2827), source_validation.block_private_addresses",
             _E.SOURCE_VALIDATION_FAILED, _S.WARNING, "private (ULA / RFC 1918) source"),
        Rule("bcp38-spoofed-source", "BCP 38 (RFC 2827) section 3", _E.SOURCE_VALIDATION_FAILED, _S.ERROR,
             "source outside the allowed ingress prefixes"),
        Rule("bcp38-egress", "BCP 38 (RFC 2827), source_validation.strict_egress", _E.SOURCE_VALIDATION_FAILED,
             _S.ERROR, "VM sends to a destination outside the allowed egress prefixes"),
        Rule("bcp84-reverse-path", "BCP 84 (RFC 3704) section 2", _E.SOURCE_VALIDATION_FAILED, _S.ERROR,
             "no route back to the source through the arrival interface"),
        Rule("isolation-inter-tenant", "isolation.inter_tenant_policy", _E.SOURCE_VALIDATION_FAILED, _S.ERROR,
             "traffic from another tenant"),
        Rule("rfc4890-4.3.1", "RFC 4890 section 4.3.1", _E.UNKNOWN, _S.INFO, "ICMPv6 error that must not be dropped"),
        Rule("rfc4890-4.3.2", "RFC 4890 section 4.3.2", _E.UNKNOWN, _S.INFO, "ICMPv6 message normally allowed"),
        Rule("rfc4890-4.3.3-nd", "RFC 4890 section 4.3.3, RFC 4861 section 7.1", _E.UNKNOWN, _S.INFO,
             "link-scope ND message with hop limit 255"),
        Rule("rfc4890-4.3.3-hop-limit", "RFC 4890 section 4.3.3, RFC 4861 section 6.1, 7.1", _E.RA_BLOCKED,
             _S.ERROR, "link-scope ND/MLD message with the wrong hop limit or source (off-link)"),
        Rule("rfc4890-4.3.3-mld", "RFC 4890 section 4.3.3, RFC 3810 section 5", _E.UNKNOWN, _S.INFO,
             "MLD from a link-local source with hop limit 1"),
        Rule("rfc4890-4.3.5", "RFC 4890 section 4.3.5", _E.UNKNOWN, _S.WARNING,
             "router renumbering, node information, experimental or reserved ICMPv6 type"),
        Rule("rfc4890-4.3.4-unallocated", "RFC 4890 section 4.3.4", _E.UNKNOWN, _S.INFO,
             "unallocated ICMPv6 type (dropped by the strict profile)"),
        Rule("icmpv6-echo-rate", "RFC 4890 section 4.3.1 (rate-limit echo)", _E.RATE_LIMIT_EXCEEDED, _S.WARNING,
             "echo over its rate"),
        Rule("rfc6105-block-all", "RFC 6105, ra_guard.block_all_ra", _E.RA_BLOCKED, _S.ERROR,
             "router advertisements are blocked"),
        Rule("rfc4861-6.1.2-hop-limit", "RFC 4861 section 6.1.2", _E.RA_BLOCKED, _S.ERROR,
             "RA hop limit is not 255"),
        Rule("rfc4861-6.1.2-source", "RFC 4861 section 6.1.2", _E.RA_BLOCKED, _S.ERROR,
             "RA source is not link-local"),
        Rule("rfc4861-6.1.2-code", "RFC 4861 section 6.1.2", _E.RA_BLOCKED, _S.ERROR, "RA code is not 0"),
        Rule("rfc4861-6.1.2-length", "RFC 4861 section 6.1.2", _E.RA_BLOCKED, _S.ERROR,
             "RA shorter than 16 octets, or an option of length 0 or past the end"),
        Rule("rfc6105-unknown-router", "RFC 6105 section 3, ra_guard.allowed_routers", _E.RA_BLOCKED, _S.CRITICAL,
             "RA from a router that is not allowed"),
        Rule("rfc6105-ra-rate", "RFC 6105, ra_guard.max_ra_rate", _E.RATE_LIMIT_EXCEEDED, _S.WARNING,
             "RAs over max_ra_rate"),
        Rule("rfc6105-blocked-option", "RFC 6105, ra_guard.block_config", _E.RA_BLOCKED, _S.ERROR,
             "RA carries an option the policy blocks"),
        Rule("rate-pps", "rate_limits.max_pps_per_vm", _E.RATE_LIMIT_EXCEEDED, _S.WARNING, "packets over max_pps"),
        Rule("rate-bandwidth", "rate_limits.max_bandwidth_per_vm", _E.RATE_LIMIT_EXCEEDED, _S.WARNING,
             "bytes over max_bandwidth"),
        Rule("rate-connections", "rate_limits.max_connections_per_vm", _E.RATE_LIMIT_EXCEEDED, _S.WARNING,
             "new connection over max_connections"),
        Rule("service-port-blocked", "services", _E.UNKNOWN, _S.INFO, "TCP/UDP port not open"),
        Rule("policy-accept", "end of policy", _E.UNKNOWN, _S.INFO, "accepted"),
        Rule("guard-accept", "guard", _E.UNKNOWN, _S.INFO, "accepted after the guard's checks"),
        Rule("guard-error", "guard", _E.UNKNOWN, _S.ERROR, "the guard failed on this packet and dropped it"),
    )
}

ACCEPTING = frozenset({"rfc4890-4.3.1", "rfc4890-4.3.2", "rfc4890-4.3.3-nd", "rfc4890-4.3.3-mld", "policy-accept",
                       "guard-accept"})
