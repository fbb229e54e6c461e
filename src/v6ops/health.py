"""``/health/ipv6``: real checks of what IPv6 service depends on, in the seed's shape.

Each check passes or fails with a reason; a failure makes the status ``degraded`` (service works,
someone should look) or ``unhealthy`` (service is failing: the database does not answer, an IPv6
range is full). Details say how many and how much, never which tenant's pool: the endpoint is public.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from v6ops.events.model import EventValueError
from v6ops.events.outbox import SpoolBacklog, spool_backlog, spool_folders
from v6ops.ipam.engine import utcnow
from v6ops.ipam.utilization import provisioning_stats
from v6ops.settings import Settings
from v6ops.store.db import open_store
from v6ops.store.models import PlanPrefix, Pool
from v6ops.store.service_models import Heartbeat

# The seed's alert: provisioning failures above 5 % (004, "Alert Thresholds").
PROVISIONING_SUCCESS_MIN = 95.0
DATABASE_SLOW_SECONDS = 1.0
SEVERITY = {"healthy": 0, "degraded": 1, "unhealthy": 2}


@dataclass
class HealthReport:
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # check -> "degraded" | "unhealthy"
    metrics: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str, failing_level: str = "degraded") -> None:
        self.checks[name] = ok
        self.details[name] = detail
        if not ok:
            self.failures[name] = failing_level

    @property
    def status(self) -> str:
        worst = max((SEVERITY[level] for level in self.failures.values()), default=0)
        return next(name for name, rank in SEVERITY.items() if rank == worst)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checks": self.checks, "failing": sorted(self.failures),
                "details": self.details, "metrics": self.metrics}


def settings_health(settings: Settings) -> HealthReport:
    """The report for a running installation: its database, thresholds and event spool."""
    return ipv6_health(settings.resolved_database_url(), timedelta(hours=settings.flow_ingest_max_age_hours),
                       settings.resolved_events_spool_dir(), timedelta(minutes=settings.events_backlog_max_age_minutes))


def ipv6_health(database_url: str, flow_ingest_max_age: timedelta, event_spool: Path | None = None,
                event_backlog_max_age: timedelta = timedelta(hours=1)) -> HealthReport:
    report = HealthReport()
    start = time.perf_counter()
    dialect = make_url(database_url).get_backend_name()
    try:
        store = open_store(database_url)
        with store.read() as session:
            session.execute(text("SELECT 1"))
            elapsed = time.perf_counter() - start
            report.check("database_responsive", elapsed < DATABASE_SLOW_SECONDS,
                         f"{dialect} answered in {elapsed * 1000:.1f} ms")
            _prefix_headroom(session, report)
            _flow_ingest(session, report, flow_ingest_max_age)
            stats = provisioning_stats(session, utcnow() - timedelta(hours=1))
    except Exception as exc:  # any database failure is this check's answer; the reason is reported
        # The exception's text may carry the URL (and a password): only its type is reported.
        report.check("database_responsive", False, f"{dialect}: {type(exc).__name__}", "unhealthy")
        stats = None
    _event_backlog(report, event_spool, event_backlog_max_age)
    nft = shutil.which("nft")
    report.check("nftables_available", nft is not None,
                 f"nft at {nft}" if nft else "the nft command is missing: compiled rulesets cannot be checked or applied")
    if stats is not None:
        report.check("provisioning_success_rate", stats["success_rate"] >= PROVISIONING_SUCCESS_MIN,
                     f"{stats['success_rate']} % of {stats['attempts']} provisionings in the last hour succeeded")
        report.metrics = {"ipv6_allocations_last_hour": stats["ipv6_allocations"],
                          "ipv6_provisioning_success_rate": stats["success_rate"],
                          "provisioning_attempts_last_hour": stats["attempts"]}
    return report


def _prefix_headroom(session: Any, report: HealthReport) -> None:
    rows = session.execute(
        select(PlanPrefix.used_units, PlanPrefix.total_units, Pool.threshold_percent)
        .join(Pool, Pool.id == PlanPrefix.pool_id).where(PlanPrefix.family == 6)
    ).all()
    if not rows:
        report.check("ipv6_prefix_available", False, "no IPv6 pool range in the prefix plan")
        return
    shares = [(int(used) / int(total) * 100 if int(total) else 100.0, threshold) for used, total, threshold in rows]
    full = sum(share >= 100 for share, _ in shares)
    hot = sum(threshold <= share < 100 for share, threshold in shares)
    highest = max(share for share, _ in shares)
    if full:
        report.check("ipv6_prefix_available", False, f"{full} of {len(rows)} IPv6 ranges are full", "unhealthy")
    else:
        report.check("ipv6_prefix_available", hot == 0,
                     f"{hot} of {len(rows)} IPv6 ranges at or above their pool's threshold; highest {highest:.1f} %")


def _flow_ingest(session: Any, report: HealthReport, max_age: timedelta) -> None:
    last = session.get(Heartbeat, "flows.report")
    if last is None:
        report.check("flow_ingest_recent", True, "no flow report made yet")
        return
    age = utcnow() - last.at
    report.check("flow_ingest_recent", age <= max_age,
                 f"last flow report {int(age.total_seconds())} s ago (limit {int(max_age.total_seconds())} s)")


def _event_backlog(report: HealthReport, spool: Path | None, max_age: timedelta) -> None:
    """Security events the network sinks (SIEM, syslog over TCP/TLS) have not delivered yet, read from
    their spools (one folder per sink), so every worker process and a restart see the same backlog.
    Any backlog is degraded (the receiver is down or slow); one waiting ``max_age`` or longer is unhealthy."""
    sinks = spool_folders(spool) if spool is not None else []
    backlogs: list[SpoolBacklog] = []
    for directory in sinks:
        try:
            backlogs.append(spool_backlog(directory))
        except (EventValueError, OSError) as exc:
            report.check("event_delivery_backlog", False, f"the {directory.name} spool cannot be read: "
                         f"{type(exc).__name__}", "degraded")
            return
    pending = sum(b.pending for b in backlogs)
    dropped = sum(b.dropped for b in backlogs)
    lost = f"; {dropped} dropped since the spools began" if dropped else ""
    if not pending:
        where = ", ".join(b.directory.name for b in backlogs) or "no spooling sink has run yet"
        report.check("event_delivery_backlog", True, f"0 events waiting for delivery ({where}){lost}")
        return
    now = datetime.now(UTC)
    age = max(b.age_seconds(now) for b in backlogs)
    per_sink = ", ".join(f"{b.directory.name}: {b.pending}" for b in backlogs if b.pending)
    detail = (f"{pending} events waiting for delivery ({per_sink}), the oldest for {int(age)} s "
              f"(limit {int(max_age.total_seconds())} s){lost}")
    report.check("event_delivery_backlog", False, detail, "unhealthy" if age >= max_age.total_seconds() else "degraded")
