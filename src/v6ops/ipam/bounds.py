"""Which addresses of a range may be handed out, and whether a customer may have them."""

from __future__ import annotations

from v6ops.addr import Address, Prefix, address_kind, summarize_range
from v6ops.addr.registry import overlapping
from v6ops.ipam.errors import ForbiddenAddressError

NEVER_FOR_CUSTOMERS = frozenset({"link-local", "multicast", "loopback", "unspecified"})
CGN_SPACE = Prefix.parse("100.64.0.0/10")  # RFC 6598 shared address space


def usable_blocks(prefix: Prefix, all_usable: bool) -> list[Prefix]:
    """The free space a new range starts with, as aligned blocks.

    A pool (``all_usable``) hands out every address. A subnet does not hand out:
    - IPv4 network and broadcast addresses, except on /31 (RFC 3021 section 2) and /32;
    - the IPv6 subnet-router anycast address, the all-zero interface identifier
      (RFC 4291 section 2.6.1), except on /127 (RFC 6164 section 5) and /128.
    """
    first, last = prefix.network, prefix.broadcast
    if not all_usable:
        if prefix.version == 4 and prefix.length < 31:
            first, last = first + 1, last - 1
        elif prefix.version == 6 and prefix.length < 127:
            first += 1
    return summarize_range(Address(prefix.version, first), Address(prefix.version, last))


def check_customer_space(item: Prefix, lab: bool, what: str) -> None:
    """Refuse a range that is, or contains, space no customer may use.

    Checked once for the whole range when the plan is applied, so every later
    allocation inside it is safe. Documentation space is allowed only with ``lab: true``.
    """
    found = [(str(item), address_kind(item))] + [(str(r.prefix), r.kind) for r in overlapping(item)]
    for where, kind in found:
        inside = "" if where == str(item) else f"contains {where}, which "
        if kind in NEVER_FOR_CUSTOMERS:
            raise ForbiddenAddressError(f"{what} {item} {inside}is {kind} space, which is never assigned to customers")
        if kind == "documentation" and not lab:
            raise ForbiddenAddressError(
                f"{what} {item} {inside}is documentation space (RFC 3849 / RFC 5737); "
                "only a pool marked 'lab: true' may use it"
            )


def check_cgn(item: Prefix, what: str) -> None:
    if not CGN_SPACE.contains(item):
        raise ForbiddenAddressError(f"{what} {item} is a CGN pool but lies outside {CGN_SPACE} (RFC 6598)")
