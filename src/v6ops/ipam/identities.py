"""Subscriber identities: what the access network knows a subscriber by.

RADIUS User-Name (with a password, or ``nas`` for a NAS that authenticates the line itself and sends
only its shared secret), DHCPv6 DUID (RFC 8415 section 11), DHCPv4 client identifier (RFC 2132
section 9.14) or hardware address, and the relay agent's circuit-id / remote-id (RFC 3046 section
3.1/3.2, RFC 4649 for DHCPv6). Every value is checked here, at the edge, and stored in one canonical
text so that a duplicate is a duplicate whatever separators the operator typed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from v6ops.ipam.errors import ConflictError, IpamError
from v6ops.store.models import Subscriber
from v6ops.store.provisioning_models import SubscriberIdentity

# Kinds as stored; each (kind, value) belongs to at most one subscriber.
KINDS = ("radius-username", "duid", "client-id", "mac", "circuit-id", "remote-id", "wireguard-key")
_HEX = re.compile(r"^[0-9a-f]+$")
_SALT_BYTES = 16


def _octets(text: str, what: str) -> bytes:
    """Hex octets, bare (``000102``) or separated by ':', '-' or ' ' (``0:1:2``), or dotted 16-bit groups."""
    raw = text.strip().lower().removeprefix("0x")
    groups = re.split(r"[:\- ]", raw) if re.search(r"[:\- ]", raw) else raw.split(".")
    if len(groups) == 1:
        hex_text = groups[0]
    elif all(1 <= len(g) <= 2 for g in groups):
        hex_text = "".join(g.zfill(2) for g in groups)
    elif all(len(g) == 4 for g in groups):
        hex_text = "".join(groups)
    else:
        hex_text = ""
    if not hex_text or len(hex_text) % 2 or not _HEX.match(hex_text):
        raise IpamError(f"{what} {text!r} is not hex octets (write e.g. 00:01:02 or 000102)")
    return bytes.fromhex(hex_text)


def colon_hex(data: bytes) -> str:
    """Kea's and ISC dhclient's text form: lower-case octets joined by ':'."""
    return ":".join(f"{b:02x}" for b in data)


# RFC 8415 section 11.1: "A DUID consists of a 2-octet type code represented in network byte order,
# followed by a variable number of octets that make up the actual identifier. The length of the DUID
# (not including the type code) is at least 1 octet and at most 128 octets."
DUID_TYPES = {1: "DUID-LLT", 2: "DUID-EN", 3: "DUID-LL", 4: "DUID-UUID"}
# IANA ARP hardware types whose address length is fixed: Ethernet (1), IEEE 802 (6), EUI-64 (27).
_HW_ADDRESS_LENGTH = {1: 6, 6: 6, 27: 8}


def parse_duid(text: str) -> bytes:
    """The DUID's octets, or IpamError naming the value and the rule of RFC 8415 section 11 it breaks."""
    data = _octets(text, "DUID")
    if not 3 <= len(data) <= 130:
        raise IpamError(f"DUID {text!r} has {len(data)} octets; RFC 8415 s11.1 allows a 2-octet type plus 1 to 128")
    kind = int.from_bytes(data[:2], "big")
    if kind not in DUID_TYPES:
        raise IpamError(f"DUID {text!r} has type {kind}; RFC 8415 s11 defines 1 (LLT), 2 (EN), 3 (LL), 4 (UUID)")
    if kind == 1:  # s11.2: type, hardware type (2), time (4), link-layer address
        _check_link_layer(text, data, 8, "DUID-LLT (RFC 8415 s11.2)")
    elif kind == 3:  # s11.4: type, hardware type (2), link-layer address
        _check_link_layer(text, data, 4, "DUID-LL (RFC 8415 s11.4)")
    elif kind == 2 and len(data) < 7:  # s11.3: type, enterprise number (4), identifier (at least 1)
        raise IpamError(f"DUID {text!r}: DUID-EN (RFC 8415 s11.3) needs a 4-octet enterprise number and an identifier")
    elif kind == 4 and len(data) != 18:  # s11.5 / RFC 6355: type and a 16-octet UUID
        raise IpamError(f"DUID {text!r}: DUID-UUID (RFC 8415 s11.5) is the type and exactly 16 octets of UUID")
    return data


def _check_link_layer(text: str, data: bytes, header: int, what: str) -> None:
    hw_type = int.from_bytes(data[2:4], "big")
    address = data[header:]
    if not address:
        raise IpamError(f"DUID {text!r}: {what} has no link-layer address")
    want = _HW_ADDRESS_LENGTH.get(hw_type)
    if want is not None and len(address) != want:
        raise IpamError(f"DUID {text!r}: {what} with hardware type {hw_type} needs a {want}-octet address, "
                        f"not {len(address)}")


def parse_mac(text: str) -> bytes:
    """A unicast EUI-48 (IEEE 802: the I/G bit of the first octet is 0 for an individual address)."""
    data = _octets(text, "MAC address")
    if len(data) != 6:
        raise IpamError(f"MAC address {text!r} has {len(data)} octets, not 6")
    if data[0] & 1:
        raise IpamError(f"MAC address {text!r} is a group (multicast) address; a client has a unicast one")
    if data == b"\0" * 6:
        raise IpamError(f"MAC address {text!r} is all zeros")
    return data


def parse_client_id(text: str) -> bytes:
    """RFC 2132 s9.14: a type octet and at least one more (minimum length 2); at most 255 octets."""
    data = _octets(text, "DHCPv4 client-id")
    if not 2 <= len(data) <= 255:
        raise IpamError(f"DHCPv4 client-id {text!r} has {len(data)} octets; RFC 2132 s9.14 needs 2 to 255")
    if data[0] == 1 and len(data) != 7:  # type 1 = Ethernet: the 6-octet hardware address follows
        raise IpamError(f"DHCPv4 client-id {text!r} is type 1 (Ethernet) but does not carry a 6-octet MAC")
    return data


def check_agent_id(text: str, what: str) -> str:
    """Circuit-id / remote-id (RFC 3046 s2.0: sub-option of 1 to 255 octets), as printable ASCII text."""
    if not 1 <= len(text.encode()) <= 255 or not text.isprintable() or not text.isascii():
        raise IpamError(f"{what} {text!r} must be 1 to 255 printable ASCII characters")
    return text


def check_wireguard_key(text: str) -> str:
    """A Curve25519 public key as wg(8) prints it: base64 of exactly 32 octets."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise IpamError(f"WireGuard public key {text!r} is not base64 of 32 octets (as 'wg pubkey' prints)")
    return base64.b64encode(raw).decode()


def check_username(text: str) -> str:
    """RADIUS User-Name (RFC 2865 s5.1): 1 to 253 octets; no control characters, no surrounding space."""
    if not 1 <= len(text.encode()) <= 253 or text != text.strip() or not text.isprintable():
        raise IpamError(f"RADIUS User-Name {text!r} must be 1 to 253 printable octets without surrounding spaces")
    return text


def hash_password(password: str, salt: bytes | None = None) -> str:
    """FreeRADIUS ``SSHA2-256-Password``: base64(SHA-256(password + salt) + salt) (rlm_pap), never the text."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.sha256(password.encode() + salt).digest()
    return base64.b64encode(digest + salt).decode()


def password_matches(password: str, stored: str) -> bool:
    raw = base64.b64decode(stored)
    return hmac.compare_digest(hash_password(password, raw[32:]), stored)


class Identities(BaseModel):
    """Identities given when creating or changing a subscriber; ``None`` leaves one as it is, "" removes it."""

    model_config = ConfigDict(extra="forbid")
    radius_username: str | None = None
    radius_password: SecretStr | None = Field(default=None, description="stored only as a salted SHA-256 hash")
    radius_auth: Literal["password", "nas"] | None = Field(
        default=None, description="'nas': the NAS authenticates the line (shared secret only), no per-user password")
    duid: str | None = None
    dhcpv4_client_id: str | None = None
    mac: str | None = None
    circuit_id: str | None = None
    remote_id: str | None = None
    wireguard_public_key: str | None = None

    @field_validator("wireguard_public_key")
    @classmethod
    def _wg(cls, v: str | None) -> str | None:
        return v if not v else check_wireguard_key(v)

    @field_validator("radius_username")
    @classmethod
    def _username(cls, v: str | None) -> str | None:
        return v if not v else check_username(v)

    @field_validator("duid")
    @classmethod
    def _duid(cls, v: str | None) -> str | None:
        return v if not v else colon_hex(parse_duid(v))

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        return v if not v else colon_hex(parse_mac(v))

    @field_validator("dhcpv4_client_id")
    @classmethod
    def _client_id(cls, v: str | None) -> str | None:
        return v if not v else colon_hex(parse_client_id(v))

    @field_validator("circuit_id")
    @classmethod
    def _circuit(cls, v: str | None) -> str | None:
        return v if not v else check_agent_id(v, "circuit-id")

    @field_validator("remote_id")
    @classmethod
    def _remote(cls, v: str | None) -> str | None:
        return v if not v else check_agent_id(v, "remote-id")

    @model_validator(mode="after")
    def _auth(self) -> Identities:
        if self.radius_auth == "nas" and self.radius_password is not None:
            raise ValueError("radius_auth 'nas' takes no radius_password (the NAS's shared secret authenticates)")
        return self

    def is_empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())


FIELD_KIND = {"radius_username": "radius-username", "duid": "duid", "dhcpv4_client_id": "client-id", "mac": "mac",
               "circuit_id": "circuit-id", "remote_id": "remote-id", "wireguard_public_key": "wireguard-key"}


def set_identities(session: Session, subscriber: Subscriber, ids: Identities) -> list[str]:
    """Apply ``ids`` to the subscriber; refuse a value another subscriber already has (ConflictError).

    Returns the identities replaced or removed, as ``kind:value``: RADIUS and Kea may still hold rows
    keyed by them, which the next incremental sync must find and remove."""
    current = {r.kind: r for r in session.scalars(
        select(SubscriberIdentity).where(SubscriberIdentity.subscriber_id == subscriber.id))}
    wanted: dict[str, str | None] = {kind: getattr(ids, f) for f, kind in FIELD_KIND.items()}
    before = {kind: row.value for kind, row in current.items()}
    for kind, value in wanted.items():
        if not value:
            continue
        other = session.scalar(select(SubscriberIdentity).where(
            SubscriberIdentity.kind == kind, SubscriberIdentity.value == value,
            SubscriberIdentity.subscriber_id != subscriber.id))
        if other is not None:
            owner = session.get(Subscriber, other.subscriber_id)
            raise ConflictError(f"{kind} {value!r} already belongs to subscriber {owner.name if owner else '?'!r}")
    for kind, value in wanted.items():
        if value is None:
            continue
        row = current.get(kind)
        if value == "":
            if row is not None:
                session.execute(delete(SubscriberIdentity).where(SubscriberIdentity.id == row.id))
                current.pop(kind)
            continue
        if row is None:
            row = SubscriberIdentity(subscriber_id=subscriber.id, kind=kind, value=value)
            session.add(row)
            current[kind] = row
        row.value = value
    user = current.get("radius-username")
    if ids.radius_password is not None or ids.radius_auth is not None:
        if user is None:
            raise IpamError("a RADIUS password or auth mode needs a radius_username")
        if ids.radius_auth == "nas":
            user.secret = None
            user.auth = "nas"
        elif ids.radius_password is not None:
            user.secret = hash_password(ids.radius_password.get_secret_value())
            user.auth = "password"
    if user is not None and user.auth is None:
        raise IpamError(f"RADIUS User-Name {user.value!r} needs a radius_password or radius_auth 'nas'")
    session.flush()
    return sorted(f"{kind}:{value}" for kind, value in before.items()
                  if kind not in current or current[kind].value != value)


def identity_view(rows: list[SubscriberIdentity]) -> dict[str, str | None]:
    """The identities as the API shows them: never the password hash, only whether one is set."""
    by_kind = {r.kind: r for r in rows}
    user = by_kind.get("radius-username")
    view: dict[str, str | None] = {f: (by_kind[k].value if k in by_kind else None) for f, k in FIELD_KIND.items()}
    view["radius_auth"] = user.auth if user else None
    return view
