"""Errors raised by the address core.

Every message quotes the caller's input and says what is wrong with it, in the
style of the standard library's ``ipaddress`` module.
"""

from __future__ import annotations


class AddressValueError(ValueError):
    """Text that is not a valid IPv4 or IPv6 address or prefix."""

    def __init__(self, text: object, reason: str, kind: str = "an IPv4 or IPv6 address") -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"{text!r} does not appear to be {kind}: {reason}")


class PrefixValueError(ValueError):
    """A well-formed prefix that breaks a rule (host bits set, bad length, boundary)."""

    def __init__(self, text: object, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"{text!r}: {reason}")
