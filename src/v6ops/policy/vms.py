"""The VM security service behind REST ``/api/v1/vms`` and gRPC ``VmService``: one implementation for both.

A VM's security is the seed's VM-side ``IPv6Config``. Every write validates the whole config with
the policy validator (errors name the field path and nothing is stored), recompiles the VM's nftables
table, stores a new numbered version with who made it, and appends a ``change`` record (before and
after, secrets redacted) to the audit log. A write that fails leaves the database as it was.

Every operation takes ``tenant``: None for the whole installation, else the one customer the caller
belongs to. Another tenant's VM is "not found" (404), never "forbidden", so its name does not leak.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from v6ops.events.audit import AuditLog
from v6ops.policy.compile_nft import compile_table
from v6ops.policy.load import load_data
from v6ops.policy.metrics import SecurityMetrics
from v6ops.policy.normalize import normalize_document
from v6ops.policy.normalized import GuardPolicy
from v6ops.policy.problems import Problem, Severity
from v6ops.policy.schema import IPv6Config
from v6ops.policy.validate import report_for
from v6ops.store.db import Store
from v6ops.store.security_models import SecurityVm, SecurityVmVersion

VM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SECRET_FIELDS = (("security", "monitoring", "siem_config", "auth_token"),)
REDACTED = "**********"
MAX_PAGE = 1000


class VmError(ValueError):
    """A VM request that cannot be carried out; ``status`` is the HTTP status it maps to."""

    status = 400


class VmNotFoundError(VmError):
    status = 404


class VmConflictError(VmError):
    status = 409


class VmExistsError(VmConflictError):
    pass


class VmForbiddenError(VmError):
    """A tenant-scoped caller asked to act for another tenant."""

    status = 403


class VmConfigError(VmError):
    """The config has errors; ``problems`` carry the field paths (REST 422, gRPC INVALID_ARGUMENT)."""

    status = 422

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(f"invalid security config: {first.path or '(config)'}: {first.message}"
                         + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))


class VmView(BaseModel):
    """What GET returns (and the CLI prints): secrets redacted."""

    id: str
    customer_id: str
    name: str
    tier: str
    version: int
    profile: str
    ipv6_config: dict[str, Any]
    compiled_sha256: str
    created_at: datetime
    updated_at: datetime
    warnings: list[Problem] = Field(default_factory=list)


class VmVersionView(BaseModel):
    vm_id: str
    customer_id: str
    version: int
    action: str
    actor: str
    ipv6_config: dict[str, Any] | None
    compiled_sha256: str
    created_at: datetime


class VmPage(BaseModel):
    vms: list[VmView]
    total: int
    offset: int
    limit: int
    next_offset: int | None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def redact(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The config with secret fields replaced (by field path, never by looking at values)."""
    if config is None:
        return None
    out = copy.deepcopy(config)
    for path in SECRET_FIELDS:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]):
            node[path[-1]] = REDACTED
    return out


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7396): objects merge, ``null`` removes, anything else replaces."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class Compiled:
    config: dict[str, Any]  # canonical stored form (secrets kept)
    profile: str
    table: str
    sha256: str
    warnings: list[Problem]


def _storage_form(model: IPv6Config) -> dict[str, Any]:
    """The effective config as JSON: every field explicit, the profile's defaults resolved, so loading it
    again gives the same policy, and two spellings of one config (REST JSON, gRPC message) store the
    same object. The secret is kept (the model dump masks it)."""
    dumped = model.model_dump(mode="json", exclude_none=True)
    token = model.security.monitoring.siem_config.auth_token.get_secret_value()
    if token:
        dumped["security"]["monitoring"]["siem_config"]["auth_token"] = token
    return dumped


def compile_config(vm_id: str, ipv6_config: Any, path_prefix: str = "config.ipv6_config",
                   guard: GuardPolicy | None = None) -> Compiled:
    """Validate (structure and meaning) and compile one VM's config; VmConfigError lists every error's path."""
    if not isinstance(ipv6_config, dict):
        raise VmConfigError([Problem(path=path_prefix, severity=Severity.ERROR, code="not-a-mapping",
                                       message="ipv6_config must be an object")])
    result = load_data({"config": {"ipv6_config": ipv6_config}}, vm_id, name=vm_id, expand=False)
    report = report_for(result)

    def relocate(p: Problem) -> Problem:
        path = p.path
        if path.startswith("config.ipv6_config"):
            path = path_prefix + path[len("config.ipv6_config"):]
        return p.model_copy(update={"path": path})

    problems = [relocate(p) for p in report.problems]
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or result.document is None:
        raise VmConfigError(errors or problems)
    target = result.document.targets[0]
    model = IPv6Config.model_validate(ipv6_config).model_copy(update={"security": target.security})
    policies = normalize_document(result.document, guard=guard)
    table = "\n".join(compile_table(p) for p in policies)
    return Compiled(config=_storage_form(model), profile=model.security.profile.value, table=table,
                    sha256=hashlib.sha256(table.encode()).hexdigest(),
                    warnings=[p for p in problems if p.severity is not Severity.ERROR])


class VmSecurityService:
    """CRUD, history and rollback of VM security configs; every change audited, counted and recompiled."""

    def __init__(self, store: Store, audit: AuditLog | None = None, metrics: SecurityMetrics | None = None,
                 guard: GuardPolicy | None = None) -> None:
        """``guard``: how compiled tables hand packets to the guard (queue number, nft or xt backend)."""
        self.store, self.audit, self.metrics, self.guard = store, audit, metrics, guard

    # ------------------------------------------------------------------ views

    @staticmethod
    def _view(row: SecurityVm, warnings: list[Problem] | None = None) -> VmView:
        return VmView(id=row.id, customer_id=row.customer_id, name=row.name, tier=row.tier, version=row.version,
                      profile=row.profile, ipv6_config=redact(row.ipv6_config) or {},
                      compiled_sha256=row.compiled_sha256, created_at=row.created_at, updated_at=row.updated_at,
                      warnings=warnings or [])

    @staticmethod
    def _version_view(row: SecurityVmVersion) -> VmVersionView:
        return VmVersionView(vm_id=row.vm_id, customer_id=row.customer_id, version=row.version, action=row.action,
                             actor=row.actor, ipv6_config=redact(row.ipv6_config),
                             compiled_sha256=row.compiled_sha256, created_at=row.created_at)

    @staticmethod
    def _row(session: Session, vm_id: str, lock: bool = False, tenant: str | None = None) -> SecurityVm:
        stmt = select(SecurityVm).where(SecurityVm.id == vm_id)
        if tenant is not None:
            stmt = stmt.where(SecurityVm.customer_id == tenant)
        row = session.scalars(stmt.with_for_update() if lock else stmt).first()
        if row is None:
            raise VmNotFoundError(f"VM {vm_id!r} does not exist")
        return row

    def _record(self, session: Session, row: SecurityVm, action: str, actor: str,
                config: dict[str, Any] | None, sha: str) -> None:
        session.add(SecurityVmVersion(vm_id=row.id, customer_id=row.customer_id, version=row.version, action=action,
                                      actor=actor, ipv6_config=config, compiled_sha256=sha, created_at=_now()))

    def _audit(self, actor: str, action: str, vm_id: str, customer_id: str, before: dict[str, Any] | None,
               after: dict[str, Any] | None, version: int) -> None:
        if self.audit is not None:
            self.audit.change(actor or "anonymous", action, f"vm/{vm_id}", redact(before), redact(after),
                              customer_id=customer_id, version=version)
        if self.metrics is not None:
            self.metrics.observe_config_change(vm_id, (before or {}).get("security"), (after or {}).get("security"))

    # ------------------------------------------------------------------ operations

    def create(self, vm_id: str, customer_id: str, ipv6_config: dict[str, Any], *, name: str = "", tier: str = "",
               actor: str = "", tenant: str | None = None) -> VmView:
        if tenant is not None and customer_id != tenant:
            raise VmForbiddenError(f"customer_id {customer_id!r}: a caller of tenant {tenant!r} creates VMs of "
                                   f"{tenant!r} only")
        if not VM_ID.match(vm_id or ""):
            raise VmError(f"id {vm_id!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if not customer_id or len(customer_id) > 64:
            raise VmError(f"customer_id {customer_id!r} must be 1-64 characters")
        compiled = compile_config(vm_id, ipv6_config, guard=self.guard)
        now = _now()
        with self.store.write() as session:
            if session.get(SecurityVm, vm_id) is not None:
                raise VmExistsError(f"VM {vm_id!r} already exists")
            row = SecurityVm(id=vm_id, customer_id=customer_id, name=name, tier=tier, version=1,
                             profile=compiled.profile, ipv6_config=compiled.config, compiled=compiled.table,
                             compiled_sha256=compiled.sha256, created_at=now, updated_at=now)
            session.add(row)
            self._record(session, row, "create", actor, compiled.config, compiled.sha256)
            view = self._view(row, compiled.warnings)
        self._audit(actor, "create", vm_id, customer_id, None, compiled.config, 1)
        return view

    def get(self, vm_id: str, tenant: str | None = None) -> VmView:
        with self.store.read() as session:
            return self._view(self._row(session, vm_id, tenant=tenant))

    def compiled_table(self, vm_id: str, tenant: str | None = None) -> str:
        with self.store.read() as session:
            return self._row(session, vm_id, tenant=tenant).compiled

    def _write(self, vm_id: str, new_config: Any, actor: str, action: str, expected_version: int | None,
               path_prefix: str = "ipv6_config", patch: dict[str, Any] | None = None,
               security: dict[str, Any] | None = None, tenant: str | None = None) -> VmView:
        with self.store.write() as session:
            row = self._row(session, vm_id, lock=True, tenant=tenant)
            if expected_version is not None and row.version != expected_version:
                raise VmConflictError(f"VM {vm_id!r} is at version {row.version}, not {expected_version}")
            before = row.ipv6_config
            if patch is not None:
                new_config = {**before, "security": merge(before.get("security", {}), patch)}
            elif security is not None:
                new_config = {**before, "security": security}
            compiled = compile_config(vm_id, new_config, path_prefix, self.guard)
            row.version += 1
            row.ipv6_config, row.profile = compiled.config, compiled.profile
            row.compiled, row.compiled_sha256, row.updated_at = compiled.table, compiled.sha256, _now()
            self._record(session, row, action, actor, compiled.config, compiled.sha256)
            view = self._view(row, compiled.warnings)
            customer = row.customer_id
        self._audit(actor, action, vm_id, customer, before, compiled.config, view.version)
        return view

    def replace(self, vm_id: str, ipv6_config: dict[str, Any], *, actor: str = "",
                expected_version: int | None = None, tenant: str | None = None) -> VmView:
        return self._write(vm_id, ipv6_config, actor, "replace", expected_version, tenant=tenant)

    def patch_security(self, vm_id: str, patch: dict[str, Any], *, actor: str = "",
                       expected_version: int | None = None, tenant: str | None = None) -> VmView:
        """The seed's ``PATCH /api/v1/vms/{id}/security``: a merge patch of the ``security`` section."""
        if not isinstance(patch, dict):
            raise VmError("the security patch must be an object")
        return self._write(vm_id, None, actor, "patch", expected_version, path_prefix="ipv6_config", patch=patch,
                           tenant=tenant)

    def replace_security(self, vm_id: str, security: dict[str, Any], *, actor: str = "",
                         expected_version: int | None = None, tenant: str | None = None) -> VmView:
        """The whole ``security`` section replaced; addresses and interface stay."""
        if not isinstance(security, dict):
            raise VmError("the security config must be an object")
        return self._write(vm_id, None, actor, "replace", expected_version, security=security, tenant=tenant)

    def rollback(self, vm_id: str, version: int, *, actor: str = "", tenant: str | None = None) -> VmView:
        """A new version whose config is that of ``version`` (history is never rewritten)."""
        stmt = select(SecurityVmVersion).where(SecurityVmVersion.vm_id == vm_id, SecurityVmVersion.version == version)
        if tenant is not None:
            stmt = stmt.where(SecurityVmVersion.customer_id == tenant)
        with self.store.read() as session:
            old = session.scalars(stmt).first()
        if old is None or old.ipv6_config is None:
            raise VmNotFoundError(f"VM {vm_id!r} has no version {version} with a config")
        return self._write(vm_id, old.ipv6_config, actor, "rollback", None, tenant=tenant)

    def delete(self, vm_id: str, *, actor: str = "", tenant: str | None = None) -> None:
        with self.store.write() as session:
            row = self._row(session, vm_id, lock=True, tenant=tenant)
            before, customer = row.ipv6_config, row.customer_id
            row.version += 1
            self._record(session, row, "delete", actor, None, "")
            version = row.version
            session.delete(row)
        self._audit(actor, "delete", vm_id, customer, before, None, version)

    def list_vms(self, *, customer_id: str | None = None, tier: str | None = None, profile: str | None = None,
                 offset: int = 0, limit: int = 100, tenant: str | None = None) -> VmPage:
        if not 1 <= limit <= MAX_PAGE:
            raise VmError(f"limit {limit} must be 1-{MAX_PAGE}")
        if offset < 0:
            raise VmError(f"offset {offset} must be >= 0")
        stmt = select(SecurityVm)
        if customer_id:
            stmt = stmt.where(SecurityVm.customer_id == customer_id)
        if tenant is not None:
            stmt = stmt.where(SecurityVm.customer_id == tenant)
        if tier:
            stmt = stmt.where(SecurityVm.tier == tier)
        if profile:
            stmt = stmt.where(SecurityVm.profile == profile.upper().removeprefix("SECURITY_PROFILE_"))
        with self.store.read() as session:
            total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            rows = session.scalars(stmt.order_by(SecurityVm.id).offset(offset).limit(limit)).all()
            vms = [self._view(r) for r in rows]
        nxt = offset + len(vms)
        return VmPage(vms=vms, total=total, offset=offset, limit=limit, next_offset=nxt if nxt < total else None)

    def history(self, vm_id: str, at: datetime | None = None, tenant: str | None = None) -> list[VmVersionView]:
        """Every version, oldest first; with ``at``, only the version in force at that time."""
        stmt = select(SecurityVmVersion).where(SecurityVmVersion.vm_id == vm_id)
        if tenant is not None:
            stmt = stmt.where(SecurityVmVersion.customer_id == tenant)
        if at is not None:
            stmt = stmt.where(SecurityVmVersion.created_at <= _utc(at))
        with self.store.read() as session:
            rows = session.scalars(stmt.order_by(SecurityVmVersion.version)).all()
            if not rows and at is None:
                raise VmNotFoundError(f"VM {vm_id!r} has no history")
            views = [self._version_view(r) for r in rows]
        if at is not None:
            if not views:
                raise VmNotFoundError(f"VM {vm_id!r} had no config at {at.isoformat()}")
            return views[-1:]
        return views
