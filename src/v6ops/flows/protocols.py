"""IANA "Assigned Internet Protocol Numbers" keywords for the protocol distribution."""

from __future__ import annotations

# Keywords as the IANA registry spells them (protocol-numbers.xhtml).
IANA_PROTOCOLS: dict[int, str] = {
    0: "HOPOPT", 1: "ICMP", 2: "IGMP", 3: "GGP", 4: "IPv4", 5: "ST", 6: "TCP", 7: "CBT", 8: "EGP", 9: "IGP",
    12: "PUP", 17: "UDP", 27: "RDP", 29: "ISO-TP4", 33: "DCCP", 36: "XTP", 41: "IPv6", 43: "IPv6-Route",
    44: "IPv6-Frag", 45: "IDRP", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH", 55: "MOBILE", 58: "IPv6-ICMP",
    59: "IPv6-NoNxt", 60: "IPv6-Opts", 88: "EIGRP", 89: "OSPFIGP", 94: "IPIP", 97: "ETHERIP", 98: "ENCAP",
    103: "PIM", 108: "IPComp", 112: "VRRP", 115: "L2TP", 118: "STP", 121: "SMP", 124: "ISIS over IPv4",
    132: "SCTP", 133: "FC", 135: "Mobility Header", 136: "UDPLite", 137: "MPLS-in-IP", 139: "HIP",
    140: "Shim6", 141: "WESP", 142: "ROHC", 143: "Ethernet", 144: "AGGFRAG", 145: "NSH", 255: "Reserved",
}


def protocol_name(number: int | None) -> str:
    if number is None:
        return "unknown"
    if 253 <= number <= 254:
        return "experimental"  # RFC 3692
    if 146 <= number <= 252:
        return "unassigned"
    return IANA_PROTOCOLS.get(number, f"protocol {number}")
