"""The YAML prefix plan: parse and check it, diff it against the database, apply it.

Apply only adds and updates; it never moves, resizes or deletes a prefix that is
already in the database (those are reported, not changed), so running it twice is a no-op.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from v6ops.addr import Prefix, PrefixValueError
from v6ops.ipam.bounds import check_cgn, check_customer_space, usable_blocks
from v6ops.ipam.engine import range_prefix, record_event
from v6ops.ipam.errors import PlanError
from v6ops.ipam.freespace import FreeSpace
from v6ops.store.models import PlanPrefix, Pool, Vrf
from v6ops.store.types import network_key

FamilyPolicy = Literal["dual-stack", "prefer-dual-stack", "ipv6-only", "ipv4-only"]
PURPOSES = {"ipv4": 4, "ipv6_address": 6, "ipv6_delegation": 6}


def _prefix(text: str) -> str:
    try:
        return str(Prefix.parse(str(text)))
    except (PrefixValueError, ValueError) as exc:
        raise ValueError(str(exc)) from exc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanNode(_Strict):
    name: str = Field(min_length=1, max_length=96)
    prefix: str
    role: str = "container"
    vrf: str | None = None
    description: str = ""
    children: list[PlanNode] = Field(default_factory=list)

    _check_prefix = field_validator("prefix")(_prefix)


class RangeSpec(_Strict):
    prefix: str
    customer_length: int = Field(ge=0, le=128)
    cgn: bool = False
    subnet: bool = Field(False, description="a subnet, not a pool: keep network/broadcast/subnet-router back")

    _check_prefix = field_validator("prefix")(_prefix)


class PoolSpec(_Strict):
    name: str = Field(min_length=1, max_length=64)
    role: str
    vrf: str = "global"
    family_policy: FamilyPolicy = "dual-stack"
    threshold: int = Field(80, ge=1, le=100)
    lab: bool = False
    quarantine_seconds: int = Field(0, ge=0)
    description: str = ""
    tenant: str | None = Field(None, min_length=1, max_length=64,
                               description="the tenant whose pool this is: its scoped tokens may allocate here")
    ipv4: RangeSpec | None = None
    ipv6_address: RangeSpec | None = None
    ipv6_delegation: RangeSpec | None = None


class PlanFile(_Strict):
    vrfs: list[str] = Field(default_factory=lambda: ["global"])
    prefixes: list[PlanNode] = Field(default_factory=list)
    pools: list[PoolSpec] = Field(default_factory=list)


@dataclass
class PlannedPrefix:
    """One row the plan wants in ``prefixes``."""

    name: str
    vrf: str
    prefix: Prefix
    role: str
    description: str = ""
    pool: str | None = None
    purpose: str | None = None
    customer_length: int | None = None
    all_usable: bool = True


@dataclass
class Change:
    action: Literal["create", "update", "unchanged", "kept"]
    kind: Literal["vrf", "pool", "prefix"]
    name: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "detail": self.detail}


@dataclass
class Plan:
    file: PlanFile
    prefixes: list[PlannedPrefix] = field(default_factory=list)


def load_plan(path: Path) -> Plan:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise PlanError(f"plan file {str(path)!r} does not exist") from exc
    except yaml.YAMLError as exc:
        raise PlanError(f"plan file {str(path)!r} is not valid YAML: {exc}") from exc
    return parse_plan(raw, str(path))


def parse_plan(raw: Any, source: str = "plan") -> Plan:
    try:
        spec = PlanFile.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PlanError(f"{source}: {problems}") from exc
    plan = Plan(spec)
    _flatten(spec.prefixes, None, None, plan.prefixes, source)
    for pool in spec.pools:
        _add_pool_ranges(pool, plan.prefixes, source)
    names = [p.name for p in plan.prefixes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PlanError(f"{source}: prefix names must be unique; repeated: {', '.join(duplicates)}")
    known_vrfs = set(spec.vrfs)
    for p in plan.prefixes:
        if p.vrf not in known_vrfs:
            raise PlanError(f"{source}: {p.name} ({p.prefix}) uses VRF {p.vrf!r}, which is not in 'vrfs'")
    return plan


def _flatten(nodes: list[PlanNode], parent: PlannedPrefix | None, vrf: str | None,
             out: list[PlannedPrefix], source: str) -> None:
    siblings = sorted(
        ((node.vrf or vrf or "global", Prefix.parse(node.prefix), node.name) for node in nodes),
        key=lambda s: (s[0], s[1].version, s[1].network),
    )
    for (vrf_a, a, name_a), (vrf_b, b, name_b) in itertools.pairwise(siblings):
        if vrf_a == vrf_b and a.overlaps(b):
            raise PlanError(f"{source}: siblings {name_a} {a} and {name_b} {b} overlap in VRF {vrf_a!r}")
    for node in nodes:
        node_vrf = node.vrf or vrf or "global"
        prefix = Prefix.parse(node.prefix)
        if parent is not None:
            if node_vrf != parent.vrf:
                raise PlanError(f"{source}: {node.name} is in VRF {node_vrf!r} but its parent {parent.name} in {parent.vrf!r}")
            if not parent.prefix.contains(prefix) or prefix == parent.prefix:
                raise PlanError(f"{source}: {node.name} {prefix} is not inside its parent {parent.name} {parent.prefix}")
        planned = PlannedPrefix(node.name, node_vrf, prefix, node.role, node.description)
        out.append(planned)
        _flatten(node.children, planned, node_vrf, out, source)


def _add_pool_ranges(pool: PoolSpec, out: list[PlannedPrefix], source: str) -> None:
    ranges = {purpose: getattr(pool, purpose) for purpose in PURPOSES if getattr(pool, purpose) is not None}
    needs = {
        "dual-stack": ({"ipv4"}, True), "prefer-dual-stack": ({"ipv4"}, True),
        "ipv6-only": (set(), True), "ipv4-only": ({"ipv4"}, False),
    }[pool.family_policy]
    has_v6 = bool({"ipv6_address", "ipv6_delegation"} & ranges.keys())
    if not needs[0] <= ranges.keys() or needs[1] != has_v6:
        raise PlanError(
            f"{source}: pool {pool.name!r} has family policy {pool.family_policy} but ranges "
            f"{sorted(ranges) or 'none'}; it needs {'ipv4 and ' if needs[0] else ''}"
            f"{'an ipv6_address or ipv6_delegation range' if needs[1] else 'no IPv6 range'}"
        )
    for purpose, spec in ranges.items():
        prefix = Prefix.parse(spec.prefix)
        what = f"{source}: pool {pool.name!r} {purpose} range"
        if prefix.version != PURPOSES[purpose]:
            raise PlanError(f"{what} {prefix} is IPv{prefix.version}, expected IPv{PURPOSES[purpose]}")
        if not prefix.length <= spec.customer_length <= prefix.width:
            raise PlanError(f"{what} {prefix}: customer_length /{spec.customer_length} must be /{prefix.length} to /{prefix.width}")
        check_customer_space(prefix, pool.lab, what)
        if (spec.cgn or pool.role == "cgn") and prefix.version == 4:
            check_cgn(prefix, what)
        out.append(PlannedPrefix(
            name=f"{pool.name}/{purpose.replace('_', '-')}", vrf=pool.vrf, prefix=prefix,
            role="cgn" if spec.cgn else pool.role, description=pool.description, pool=pool.name,
            purpose=purpose.replace("_", "-"), customer_length=spec.customer_length, all_usable=not spec.subnet,
        ))


def check_nesting(entries: list[PlannedPrefix]) -> None:
    """Within a VRF two prefixes are disjoint or nested, and nothing nests inside a pool range."""
    by_vrf: dict[tuple[str, int], list[PlannedPrefix]] = {}
    for e in entries:
        by_vrf.setdefault((e.vrf, e.prefix.version), []).append(e)
    for group in by_vrf.values():
        group.sort(key=lambda e: (e.prefix.network, e.prefix.length))
        stack: list[PlannedPrefix] = []
        for e in group:
            while stack and not stack[-1].prefix.overlaps(e.prefix):
                stack.pop()
            if stack:
                outer = stack[-1]
                if outer.prefix == e.prefix:
                    raise PlanError(f"{e.name} and {outer.name} are both {e.prefix} in VRF {e.vrf!r}")
                if outer.pool is not None:
                    raise PlanError(
                        f"{e.name} {e.prefix} overlaps pool range {outer.name} {outer.prefix} in VRF {e.vrf!r}; "
                        "pool ranges cannot contain or overlap other prefixes"
                    )
            stack.append(e)


def _existing(session: Session) -> dict[str, tuple[PlanPrefix, str]]:
    vrf_names = {v.id: v.name for v in session.scalars(select(Vrf))}
    return {p.name: (p, vrf_names[p.vrf_id]) for p in session.scalars(select(PlanPrefix))}


def diff_plan(session: Session, plan: Plan) -> list[Change]:
    """What apply would do; raises PlanError when the plan conflicts with itself or the database."""
    changes: list[Change] = []
    vrfs = set(session.scalars(select(Vrf.name)))
    changes += [Change("create", "vrf", v, "") for v in plan.file.vrfs if v not in vrfs]
    pools = {p.name: p for p in session.scalars(select(Pool))}
    for spec in plan.file.pools:
        wanted = _pool_fields(spec)
        current = pools.get(spec.name)
        if current is None:
            changes.append(Change("create", "pool", spec.name, f"{spec.role}, {spec.family_policy}"))
        else:
            diffs = [f"{k}: {getattr(current, k)!r} -> {v!r}" for k, v in wanted.items() if getattr(current, k) != v]
            changes.append(Change("update" if diffs else "unchanged", "pool", spec.name, "; ".join(diffs)))
    existing = _existing(session)
    planned_names = {p.name for p in plan.prefixes}
    kept = [
        PlannedPrefix(name, vrf, range_prefix(row), row.role, pool=str(row.pool_id) if row.pool_id else None)
        for name, (row, vrf) in existing.items() if name not in planned_names
    ]
    check_nesting(plan.prefixes + kept)
    for p in plan.prefixes:
        found = existing.get(p.name)
        if found is None:
            changes.append(Change("create", "prefix", p.name, f"{p.prefix} {p.role} in {p.vrf}"))
            continue
        row, vrf = found
        fixed = {"prefix": (str(range_prefix(row)), str(p.prefix)), "vrf": (vrf, p.vrf),
                 "customer_length": (row.customer_length, p.customer_length), "purpose": (row.purpose, p.purpose),
                 "subnet": (not row.all_usable, not p.all_usable)}
        moved = [f"{k} {a} -> {b}" for k, (a, b) in fixed.items() if a != b]
        if moved:
            raise PlanError(f"prefix {p.name}: apply does not move or resize existing prefixes ({'; '.join(moved)})")
        diffs = [f"{k}: {getattr(row, k)!r} -> {v!r}" for k, v in (("role", p.role), ("description", p.description))
                 if getattr(row, k) != v]
        changes.append(Change("update" if diffs else "unchanged", "prefix", p.name, "; ".join(diffs)))
    changes += [Change("kept", "prefix", k.name, f"{k.prefix} is in the database but not in the plan") for k in kept]
    return changes


def _pool_fields(spec: PoolSpec) -> dict[str, object]:
    return {"role": spec.role, "family_policy": spec.family_policy, "threshold_percent": spec.threshold,
            "lab": spec.lab, "quarantine_seconds": spec.quarantine_seconds, "description": spec.description,
            "tenant": spec.tenant}


def apply_plan(session: Session, plan: Plan) -> list[Change]:
    """Diff, then make the database match; the caller's transaction makes it all-or-nothing."""
    changes = diff_plan(session, plan)
    vrfs = {v.name: v for v in session.scalars(select(Vrf))}
    for name in plan.file.vrfs:
        if name not in vrfs:
            vrfs[name] = Vrf(name=name)
            session.add(vrfs[name])
    pools = {p.name: p for p in session.scalars(select(Pool))}
    for spec in plan.file.pools:
        pool = pools.get(spec.name)
        if pool is None:
            pool = pools[spec.name] = Pool(name=spec.name)
            session.add(pool)
        for k, v in _pool_fields(spec).items():
            setattr(pool, k, v)
    session.flush()
    rows = {name: row for name, (row, _) in _existing(session).items()}
    for p in sorted(plan.prefixes, key=lambda e: e.prefix.length):
        row = rows.get(p.name)
        if row is None:
            row = rows[p.name] = _create_prefix(session, p, vrfs[p.vrf].id, pools)
        row.role, row.description = p.role, p.description
    session.flush()
    for p in plan.prefixes:
        rows[p.name].parent_id = _parent_id(p, plan.prefixes, rows)
    if any(c.action in ("create", "update") for c in changes):
        record_event(session, "plan-applied", "info",
                     f"prefix plan applied: {sum(c.action == 'create' for c in changes)} created, "
                     f"{sum(c.action == 'update' for c in changes)} updated")
    return changes


def _create_prefix(session: Session, p: PlannedPrefix, vrf_id: int, pools: dict[str, Pool]) -> PlanPrefix:
    row = PlanPrefix(
        vrf_id=vrf_id, name=p.name, family=p.prefix.version, network=network_key(p.prefix.version, p.prefix.network),
        length=p.prefix.length, cidr=str(p.prefix), role=p.role, description=p.description,
        pool_id=pools[p.pool].id if p.pool else None, purpose=p.purpose, customer_length=p.customer_length,
        all_usable=p.all_usable, used_units=0, total_units=0, alerting=False,
    )
    session.add(row)
    session.flush()
    if p.customer_length is not None:
        space = FreeSpace(session, row.id, p.prefix, p.customer_length)
        space.seed(usable_blocks(p.prefix, p.all_usable))
        row.total_units = -space.unit_delta
    return row


def _parent_id(p: PlannedPrefix, planned: list[PlannedPrefix], rows: dict[str, PlanPrefix]) -> int | None:
    """The smallest other plan prefix of the same VRF that contains ``p``."""
    containers = [
        q for q in planned
        if q.vrf == p.vrf and q.pool is None and q.prefix.contains(p.prefix) and q.prefix != p.prefix
    ]
    best = max(containers, key=lambda q: q.prefix.length, default=None)
    return rows[best.name].id if best else None
