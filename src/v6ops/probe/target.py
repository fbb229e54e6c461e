"""What to probe: a host name, an address literal, ``host:port`` or a URL.

``host:port`` is split on the *last* colon and only when there is exactly one: a bare IPv6
literal has several, and one with a port must be bracketed (RFC 3986 section 3.2.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from v6ops.addr import Address, AddressValueError

SCHEMES = {"http": 80, "https": 443}
DEFAULT_PORT = 443
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


class TargetError(ValueError):
    """A target that cannot be probed; the message quotes it and says why."""

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"{text!r}: {reason}")


@dataclass(frozen=True)
class Target:
    text: str
    host: str  # a name (lower case, no trailing dot) or canonical address text
    port: int
    scheme: str | None = None  # http or https for URLs; None for a bare host or host:port
    path: str = "/"
    address: Address | None = None  # set when the host is a literal

    @property
    def is_literal(self) -> bool:
        return self.address is not None

    @property
    def authority(self) -> str:
        """``host:port`` as it goes into an HTTP Host header (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = SCHEMES.get(self.scheme or "")
        return host if self.port == default else f"{host}:{self.port}"

    def as_dict(self) -> dict[str, object]:
        return {"text": self.text, "host": self.host, "port": self.port, "scheme": self.scheme, "path": self.path,
                "literal": self.is_literal}


def _port(text: str, value: str) -> int:
    if not value.isdigit():
        raise TargetError(text, f"port {value!r} is not a number")
    port = int(value)
    if not 1 <= port <= 65535:
        raise TargetError(text, f"port {port} is out of range (1-65535)")
    return port


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``[v6]:port``, ``[v6]``, ``name:port``, ``v4:port``, or a bare host with ``default_port``."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise TargetError(text, "'[' without a closing ']'")
        host, rest = text[1:end], text[end + 1:]
        if rest == "":
            return host, default_port
        if not rest.startswith(":"):
            raise TargetError(text, f"unexpected {rest!r} after ']' (expected ':port')")
        return host, _port(text, rest[1:])
    if text.count(":") == 1:
        host, port = text.rsplit(":", 1)
        return host, _port(text, port)
    return text, default_port


def _host(text: str, host: str) -> tuple[str, Address | None]:
    if not host:
        raise TargetError(text, "the host is empty")
    if ":" in host or re.fullmatch(r"[0-9.]+", host):
        try:
            address = Address.parse(unquote(host), allow_zone=True)
        except AddressValueError as exc:
            raise TargetError(text, f"bad address literal: {exc.reason}") from exc
        return str(address), address  # str() keeps the zone (RFC 4007 section 11)
    name = host.rstrip(".").lower()
    try:
        if not name.isascii():
            name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise TargetError(text, f"host {host!r} is not a valid name: {exc}") from exc
    if len(name) > 253:
        raise TargetError(text, "the name is longer than 253 characters")
    bad = next((label for label in name.split(".") if not _LABEL.match(label)), None)
    if bad is not None:
        raise TargetError(text, f"label {bad!r} is not a valid DNS label")
    return name, None


def _from_url(text: str) -> Target:
    try:
        parts: SplitResult = urlsplit(text)
    except ValueError as exc:
        raise TargetError(text, f"malformed URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetError(text, f"scheme {parts.scheme!r} is not supported (http or https)")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not netloc:
        raise TargetError(text, "the URL has no host")
    try:
        host_text, port = split_host_port(netloc, SCHEMES[scheme])
    except TargetError as exc:
        raise TargetError(text, exc.reason) from None
    if host_text.startswith("[") or (not netloc.startswith("[") and host_text.count(":") > 1):
        raise TargetError(text, "an IPv6 address in a URL must be in brackets")
    host, address = _host(text, host_text)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(text=text, host=host, port=port, scheme=scheme, path=path, address=address)


def parse_target(text: str, default_port: int = DEFAULT_PORT) -> Target:
    """A ``Target`` from one command-line word, or a ``TargetError`` naming it."""
    text = text.strip()
    if not text:
        raise TargetError(text, "the target is empty")
    if any(c.isspace() for c in text):
        raise TargetError(text, "it contains white space")
    if "://" in text:
        return _from_url(text)
    host_text, port = split_host_port(text, default_port)
    host, address = _host(text, host_text)
    return Target(text=text, host=host, port=port, address=address)
