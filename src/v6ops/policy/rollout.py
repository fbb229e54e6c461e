"""Staged rollout of security settings across the VM fleet, the seed's gradual migration made safe.

The seed's phases: RA guard for every VM, then source validation for one customer tier, then the
full profile for everyone; each phase in batches with a pause. After each batch the rollout reads
the batch's security event rate and p95 validation latency (from v6ops's own ``/metrics`` or a
Prometheus server's HTTP API) and, when either is past its threshold, rolls that batch back to the
versions it had (from the VM history), records why, and stops. The state file makes it resumable:
a rerun skips finished batches and finishes an interrupted one. Every step is audited.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field

from v6ops.events.audit import AuditLog
from v6ops.policy.metrics import DEFAULT_NAMESPACE
from v6ops.policy.vms import VmError, VmSecurityService

# The seed's gradual-ipv6-security-migration.sh patches, phase by phase.
PHASE_PATCHES: dict[str, dict[str, Any]] = {
    "ra_guard": {"ra_guard": {"enabled": True, "block_all_ra": False, "max_ra_rate": 10}},
    "source_validation": {"source_validation": {"strict_ingress": True, "strict_egress": False,
                                                "block_private_addresses": True}},
    "full": {"profile": "SECURITY_PROFILE_HIGH",
             "ra_guard": {"enabled": True, "block_all_ra": True, "allowed_routers": None},
             "source_validation": {"strict_ingress": True, "strict_egress": True, "block_private_addresses": True,
                                   "reverse_path_filtering": True},
             "extension_headers": {"mode": "EXTENSION_HEADER_MODE_SELECTIVE", "allowed_types": [0, 6, 17, 44],
                                   "fragment_policy": "FRAGMENT_POLICY_REASSEMBLE"},
             "rate_limits": {"max_pps_per_vm": 10000, "max_bandwidth_per_vm": 1073741824,
                             "method": "RATE_LIMIT_METHOD_TOKEN_BUCKET"},
             "monitoring": {"enable_security_logging": True, "security_log_level": "LOG_LEVEL_INFO",
                            "enable_metrics": True}},
}
PHASES = tuple(PHASE_PATCHES)

BatchStatus = Literal["pending", "applying", "verifying", "done", "rolled_back", "failed"]


class RolloutError(ValueError):
    """A rollout that cannot start or continue (bad state file, unknown phase, unreadable metrics)."""


class Measurement(BaseModel):
    event_rate: float = Field(description="security events per second from the batch's VMs")
    latency_p95: float | None = Field(description="p95 source validation latency in seconds; None without samples")


class Batch(BaseModel):
    phase: str
    index: int
    vm_ids: list[str]
    status: BatchStatus = "pending"
    before_versions: dict[str, int] = Field(default_factory=dict)
    after_versions: dict[str, int] = Field(default_factory=dict)
    pushed: list[str] = Field(default_factory=list, description="VMs whose new table reached their host")
    measured: Measurement | None = None
    reason: str = ""


class RolloutState(BaseModel):
    """The state file: the plan (thresholds and batches) and how far it got."""

    created_at: datetime
    phases: list[str]
    tier: str
    batch_size: int
    pause_s: float
    max_event_rate: float
    max_latency_s: float
    batches: list[Batch]
    status: Literal["running", "completed", "stopped"] = "running"
    stopped_at: int | None = None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=1))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> RolloutState:
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValueError) as exc:
            raise RolloutError(f"rollout state {str(path)!r} cannot be used: {exc}") from exc


# ---------------------------------------------------------------------------------------------- metrics


class MetricsReader(Protocol):
    """Measures a batch: ``begin`` before the change, ``end`` after the pause."""

    def begin(self, vm_ids: list[str]) -> None: ...

    def end(self, vm_ids: list[str], seconds: float) -> Measurement: ...


def _p95(buckets: dict[float, float]) -> float | None:
    """histogram_quantile(0.95) over cumulative bucket counts (Prometheus's linear interpolation)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = 0.95 * buckets[bounds[-1]]
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if b == float("inf"):
                return prev_bound
            return prev_bound + (b - prev_bound) * (rank - prev_count) / max(buckets[b] - prev_count, 1e-12)
        prev_bound, prev_count = b, buckets[b]
    return prev_bound


class ExpositionReader:
    """Reads v6ops's own metrics: a ``/metrics`` URL, or any callable returning the exposition text.
    ``refresh`` runs first (e.g. feeding nft counters into the metrics)."""

    def __init__(self, source: str | Callable[[], str], namespace: str = DEFAULT_NAMESPACE,
                 refresh: Callable[[list[str]], None] | None = None, token: str | None = None) -> None:
        self.source, self.namespace, self.refresh = source, namespace, refresh
        # v6ops' /metrics needs a viewer token unless the service made it public.
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.start: tuple[float, dict[float, float]] = (0.0, {})

    def _text(self) -> str:
        if callable(self.source):
            return self.source()
        try:
            response = httpx.get(self.source, timeout=10, headers=self.headers)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RolloutError(f"metrics {self.source}: {exc}") from exc
        return response.text

    def _snapshot(self, vm_ids: list[str]) -> tuple[float, dict[float, float]]:
        if self.refresh is not None:
            self.refresh(vm_ids)
        wanted = set(vm_ids)
        events, buckets = 0.0, dict[float, float]()
        for family in text_string_to_metric_families(self._text()):
            for s in family.samples:
                if s.labels.get("vm_id") not in wanted:
                    continue
                if s.name == f"{self.namespace}_audit_events_total":
                    events += s.value
                elif s.name == f"{self.namespace}_source_validation_latency_seconds_bucket":
                    le = float(s.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + s.value
        return events, buckets

    def begin(self, vm_ids: list[str]) -> None:
        self.start = self._snapshot(vm_ids)

    def end(self, vm_ids: list[str], seconds: float) -> Measurement:
        events, buckets = self._snapshot(vm_ids)
        delta = {le: c - self.start[1].get(le, 0.0) for le, c in buckets.items()}
        return Measurement(event_rate=(events - self.start[0]) / max(seconds, 1e-9), latency_p95=_p95(delta))


class PrometheusReader:
    """Reads the same two figures from a Prometheus server's HTTP API (``/api/v1/query``)."""

    def __init__(self, base_url: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.base, self.namespace = base_url.rstrip("/"), namespace

    def _query(self, promql: str) -> float | None:
        try:
            response = httpx.get(f"{self.base}/api/v1/query", params={"query": promql}, timeout=10)
            response.raise_for_status()
            result = response.json()["data"]["result"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise RolloutError(f"prometheus {self.base}: {exc}") from exc
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if value != value else value  # NaN: no samples

    def begin(self, vm_ids: list[str]) -> None:
        return None

    def end(self, vm_ids: list[str], seconds: float) -> Measurement:
        selector = "|".join(re.escape(v) for v in vm_ids)
        window = f"{max(int(seconds), 1)}s"
        ns = self.namespace
        events = self._query(f'sum(increase({ns}_audit_events_total{{vm_id=~"{selector}"}}[{window}]))')
        latency = self._query(f"histogram_quantile(0.95, sum by (le) (increase("
                              f'{ns}_source_validation_latency_seconds_bucket{{vm_id=~"{selector}"}}[{window}])))')
        return Measurement(event_rate=(events or 0.0) / max(seconds, 1e-9), latency_p95=latency)


# ---------------------------------------------------------------------------------------------- engine


def plan(service: VmSecurityService, phases: list[str], tier: str, batch_size: int, pause_s: float,
         max_event_rate: float, max_latency_s: float) -> RolloutState:
    """Batches per phase: every VM for ra_guard and full, the chosen tier's VMs for source_validation."""
    unknown = [p for p in phases if p not in PHASE_PATCHES]
    if unknown:
        raise RolloutError(f"unknown phase(s) {', '.join(unknown)}; phases: {', '.join(PHASES)}")
    if batch_size < 1 or pause_s < 0 or max_event_rate < 0 or max_latency_s <= 0:
        raise RolloutError("batch size must be >= 1, pause and max event rate >= 0, max latency > 0")
    if "source_validation" in phases and not tier:
        raise RolloutError("the source_validation phase needs --tier (the seed enables it for one tier first)")
    batches: list[Batch] = []
    for phase in phases:
        vms: list[str] = []
        offset = 0
        while True:
            page = service.list_vms(tier=tier if phase == "source_validation" else None, offset=offset, limit=1000)
            vms += [v.id for v in page.vms]
            if page.next_offset is None:
                break
            offset = page.next_offset
        for i in range(0, len(vms), batch_size):
            batches.append(Batch(phase=phase, index=len(batches), vm_ids=vms[i:i + batch_size]))
    return RolloutState(created_at=datetime.now(UTC), phases=phases, tier=tier, batch_size=batch_size,
                        pause_s=pause_s, max_event_rate=max_event_rate, max_latency_s=max_latency_s, batches=batches)


@dataclass
class Rollout:
    service: VmSecurityService
    state_path: Path
    reader: MetricsReader
    audit: AuditLog | None = None
    apply: Callable[[str, str], None] | None = None  # (vm_id, compiled table) -> load it on the VM's host
    sleep: Callable[[float], None] = time.sleep
    actor: str = "rollout"
    progress: Callable[[Batch], None] | None = None

    def _audit(self, state: RolloutState, batch: Batch, step: str, **extra: Any) -> None:
        if self.audit is not None:
            self.audit.record("rollout", actor=self.actor, step=step, phase=batch.phase, batch=batch.index,
                              vm_ids=batch.vm_ids, status=batch.status, **extra)
            self.audit.flush()
        state.save(self.state_path)

    def _push(self, vm_id: str) -> None:
        if self.apply is not None:
            self.apply(vm_id, self.service.compiled_table(vm_id))

    def _roll_back(self, state: RolloutState, batch: Batch, reason: str) -> None:
        for vm_id, version in batch.before_versions.items():
            self.service.rollback(vm_id, version, actor=self.actor)
            self._push(vm_id)
        batch.status, batch.reason = "rolled_back", reason
        state.status, state.stopped_at = "stopped", batch.index
        self._audit(state, batch, "rolled_back", reason=reason)

    def run(self, state: RolloutState) -> RolloutState:
        state.status = "running"
        state.save(self.state_path)
        for batch in state.batches:
            if batch.status in ("done",):
                continue
            if batch.status in ("rolled_back", "failed"):
                state.status, state.stopped_at = "stopped", batch.index
                state.save(self.state_path)
                return state
            self.reader.begin(batch.vm_ids)
            batch.status = "applying"
            self._audit(state, batch, "apply")
            patch = PHASE_PATCHES[batch.phase]
            for vm_id in batch.vm_ids:
                if vm_id in batch.pushed:
                    continue  # finished before an interruption
                if vm_id in batch.after_versions:  # stored, but interrupted before its host had the table
                    self._push(vm_id)
                    batch.pushed.append(vm_id)
                    state.save(self.state_path)
                    continue
                try:
                    before = self.service.get(vm_id).version
                    batch.before_versions[vm_id] = before
                    state.save(self.state_path)
                    after = self.service.patch_security(vm_id, patch, actor=self.actor).version
                except VmError as exc:
                    batch.before_versions.pop(vm_id, None)
                    self._roll_back(state, batch, f"{vm_id}: {exc}")
                    batch.status = "failed"
                    state.save(self.state_path)
                    return state
                batch.after_versions[vm_id] = after
                state.save(self.state_path)
                self._push(vm_id)
                batch.pushed.append(vm_id)
                state.save(self.state_path)
            batch.status = "verifying"
            state.save(self.state_path)
            self.sleep(state.pause_s)
            m = self.reader.end(batch.vm_ids, max(state.pause_s, 1e-3))
            batch.measured = m
            problems = []
            if m.event_rate > state.max_event_rate:
                problems.append(f"event rate {m.event_rate:.3g}/s > {state.max_event_rate:g}/s")
            if m.latency_p95 is not None and m.latency_p95 > state.max_latency_s:
                problems.append(f"p95 validation latency {m.latency_p95:.3g}s > {state.max_latency_s:g}s")
            if problems:
                self._roll_back(state, batch, "; ".join(problems))
                if self.progress:
                    self.progress(batch)
                return state
            batch.status = "done"
            self._audit(state, batch, "done", measured=m.model_dump())
            if self.progress:
                self.progress(batch)
        state.status = "completed"
        state.save(self.state_path)
        return state


def state_summary(state: RolloutState) -> dict[str, Any]:
    return json.loads(state.model_dump_json())
