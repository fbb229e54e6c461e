"""Users, API tokens, browser sessions and one-time sign-in links.

Every secret handed out is ``v6ops_`` + 256 random bits (``secrets.token_urlsafe``). Only its
SHA-256 is stored, so a database dump reveals no usable credential; passwords get scrypt.
A secret is printed once, when it is made, and never again (as Grafana's service-account tokens).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from v6ops.auth.models import Credential, User
from v6ops.store.db import Store

SECRET_PREFIX = "v6ops_"
SIGN_IN_LINK_TTL = timedelta(hours=24)
LAST_USED_RESOLUTION = timedelta(seconds=60)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# scrypt cost (RFC 7914 section 2): N = 2**14, r = 8, p = 1 is the interactive-login setting it recommends.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class AuthError(ValueError):
    """Bad input to a user or token operation; the message names it. ``status`` is the HTTP code."""

    status = 400


class AuthNotFoundError(AuthError):
    status = 404


class Role(enum.IntEnum):
    """viewer reads; operator allocates and changes configs; admin manages plans, users and tokens."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise AuthError(f"role {text!r} is not one of admin, operator, viewer") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a signed-in user (``kind="session"``) or an API token (``kind="api"``).

    ``tenant`` None means the whole installation; a tenant name limits every read and write to
    that tenant's subscribers, devices, pools and their prefixes, allocations and events.
    """

    name: str
    role: Role
    tenant: str | None
    kind: str
    credential_id: int
    user_id: int | None = None
    expires_at: datetime | None = None

    def can(self, role: Role) -> bool:
        return self.role >= role

    def actor(self, peer: str) -> str:
        """How audit records and VM histories name this caller: ``name@client`` (REST and gRPC alike)."""
        return f"{self.name}@{peer}"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s``."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise AuthError(f"duration {text!r} is not a positive number with s, m, h, d or w (e.g. '30d')")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def check_name(text: str, what: str) -> str:
    if not _NAME.match(text):
        raise AuthError(f"{what} {text!r} must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return text


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    _, n, r, p, salt, digest = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(got.hex(), digest)


def _new_credential(session: Session, kind: str, name: str, role: Role, tenant: str | None,
                    expires_at: datetime | None, user_id: int | None = None) -> tuple[str, Credential]:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = Credential(kind=kind, secret_hash=secret_hash(secret), name=name, user_id=user_id, role=role.label,
                     tenant=tenant, created_at=utcnow(), expires_at=expires_at)
    session.add(row)
    session.flush()
    return secret, row


def _status(row: Credential, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def credential_view(row: Credential, user: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        return None if t is None else t.isoformat(timespec="seconds") + "Z"

    return {
        "id": row.id, "name": row.name, "kind": row.kind, "role": row.role, "tenant": row.tenant, "user": user,
        "status": _status(row, now or utcnow()), "created_at": iso(row.created_at), "expires_at": iso(row.expires_at),
        "revoked_at": iso(row.revoked_at), "last_used_at": iso(row.last_used_at),
    }


def user_view(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "role": user.role, "tenant": user.tenant, "disabled": user.disabled,
            "has_password": user.password_hash is not None, "created_at": user.created_at.isoformat(timespec="seconds") + "Z"}


def _scoped_tenant(requested: str | None, scope: str | None) -> str | None:
    """A tenant-scoped caller makes credentials for its own tenant only."""
    if requested is not None:
        check_name(requested, "tenant")
    if scope is None:
        return requested
    if requested not in (None, scope):
        raise AuthError(f"tenant {requested!r}: a credential scoped to tenant {scope!r} can only act for {scope!r}")
    return scope


def create_token(store: Store, name: str, role: Role, tenant: str | None = None, expires_in: timedelta | None = None,
                 scope: str | None = None) -> tuple[str, dict[str, Any]]:
    """A new API token; returns the secret (shown once) and the token's record."""
    check_name(name, "token name")
    tenant = _scoped_tenant(tenant, scope)
    expires_at = utcnow() + expires_in if expires_in else None
    with store.write() as session:
        secret, row = _new_credential(session, "api", name, role, tenant, expires_at)
        return secret, credential_view(row)


def list_tokens(store: Store, scope: str | None = None) -> list[dict[str, Any]]:
    with store.read() as session:
        stmt = select(Credential).where(Credential.kind == "api").order_by(Credential.id)
        if scope is not None:
            stmt = stmt.where(Credential.tenant == scope)
        now = utcnow()
        return [credential_view(r, now=now) for r in session.scalars(stmt)]


def revoke_token(store: Store, token_id: int, scope: str | None = None) -> dict[str, Any]:
    with store.write() as session:
        row = session.get(Credential, token_id)
        if row is None or row.kind != "api" or (scope is not None and row.tenant != scope):
            raise AuthNotFoundError(f"unknown token id {token_id}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return credential_view(row)


def create_user(store: Store, name: str, role: Role, tenant: str | None = None, password: str | None = None,
                scope: str | None = None) -> dict[str, Any]:
    check_name(name, "user name")
    tenant = _scoped_tenant(tenant, scope)
    if password is not None and len(password) < 10:
        raise AuthError("password: at least 10 characters are needed")
    with store.write() as session:
        if session.scalar(select(User.id).where(User.name == name)) is not None:
            raise AuthError(f"user {name!r} already exists")
        user = User(name=name, role=role.label, tenant=tenant, disabled=False, created_at=utcnow(),
                    password_hash=hash_password(password) if password else None)
        session.add(user)
        session.flush()
        return user_view(user)


def list_users(store: Store, scope: str | None = None) -> list[dict[str, Any]]:
    with store.read() as session:
        stmt = select(User).order_by(User.id)
        if scope is not None:
            stmt = stmt.where(User.tenant == scope)
        return [user_view(u) for u in session.scalars(stmt)]


def _user(session: Session, name: str, scope: str | None = None) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or (scope is not None and user.tenant != scope):
        raise AuthNotFoundError(f"unknown user {name!r}")
    return user


def set_password(store: Store, name: str, password: str) -> dict[str, Any]:
    if len(password) < 10:
        raise AuthError("password: at least 10 characters are needed")
    with store.write() as session:
        user = _user(session, name)
        user.password_hash = hash_password(password)
        # A new password ends every browser session of the user.
        session.execute(update(Credential).where(Credential.user_id == user.id, Credential.kind == "session",
                                                 Credential.revoked_at.is_(None)).values(revoked_at=utcnow()))
        return user_view(user)


def create_sign_in_link(store: Store, name: str, ttl: timedelta = SIGN_IN_LINK_TTL) -> str:
    """A one-time secret that signs ``name`` in once (Jupyter's tokenised URL); returns the secret."""
    with store.write() as session:
        user = _user(session, name)
        if user.disabled:
            raise AuthError(f"user {name!r} is disabled")
        secret, _ = _new_credential(session, "sign-in", f"sign-in link for {name}", Role.parse(user.role),
                                    user.tenant, utcnow() + ttl, user.id)
        return secret


def ensure_first_admin(store: Store) -> str | None:
    """On an empty user table: create the ``admin`` user and return a one-time sign-in secret; else None."""
    with store.read() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
    try:
        create_user(store, "admin", Role.ADMIN)
    except AuthError:
        return None  # another worker process made it first
    return create_sign_in_link(store, "admin")


def _start_session(session: Session, user: User, ttl: timedelta) -> str:
    secret, _ = _new_credential(session, "session", f"session of {user.name}", Role.parse(user.role), user.tenant,
                                utcnow() + ttl, user.id)
    return secret


def redeem_sign_in_link(store: Store, secret: str, session_ttl: timedelta) -> str | None:
    """Use a sign-in link (once: a second use fails) and return a new session secret, or None."""
    now = utcnow()
    with store.write() as session:
        row = session.scalar(select(Credential).where(Credential.secret_hash == secret_hash(secret),
                                                      Credential.kind == "sign-in"))
        if row is None or _status(row, now) != "active" or row.user_id is None:
            return None
        used = session.execute(update(Credential).where(Credential.id == row.id, Credential.revoked_at.is_(None))
                               .values(revoked_at=now, last_used_at=now))
        user = session.get(User, row.user_id)
        if used.rowcount != 1 or user is None or user.disabled:  # type: ignore[attr-defined]
            return None
        return _start_session(session, user, session_ttl)


def password_sign_in(store: Store, name: str, password: str, session_ttl: timedelta) -> str | None:
    with store.read() as session:
        user = session.scalar(select(User).where(User.name == name))
    if user is None:
        hash_password(password)  # same work either way: the answer time does not tell which names exist
        return None
    if user.disabled or not verify_password(password, user.password_hash):
        return None
    with store.write() as session:
        fresh = session.get(User, user.id)
        return None if fresh is None else _start_session(session, fresh, session_ttl)


def end_session(store: Store, secret: str) -> None:
    with store.write() as session:
        session.execute(update(Credential).where(Credential.secret_hash == secret_hash(secret),
                                                 Credential.kind == "session").values(revoked_at=utcnow()))


def authenticate_secret(store: Store, secret: str, kind: str) -> Principal | None:
    """The principal for a bearer token (``kind="api"``) or session cookie (``"session"``), or None.

    ``last_used_at`` is written at most once a minute per credential, not on every request.
    """
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    now = utcnow()
    with store.read() as session:
        row = session.scalar(select(Credential).where(Credential.secret_hash == secret_hash(secret)))
        if row is None or row.kind != kind or _status(row, now) != "active":
            return None
        user = session.get(User, row.user_id) if row.user_id is not None else None
        if row.user_id is not None and (user is None or user.disabled):
            return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        with store.write() as session:
            session.execute(update(Credential).where(Credential.id == row.id).values(last_used_at=now))
    name = user.name if user is not None else row.name
    return Principal(name=name, role=Role.parse(row.role), tenant=row.tenant, kind=kind, credential_id=row.id,
                     user_id=row.user_id, expires_at=row.expires_at)
