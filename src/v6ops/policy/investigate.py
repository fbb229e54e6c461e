"""``v6ops policy investigate EVENT_ID``: the seed's security event investigation, from stored facts.

The event; the VM's other events in the time window around it; the VM's configuration in force at
the event's time (from the versioned history); which VMs raised events in the same window; the
customer; and remediation steps for the event type. JSON for tools, Markdown for the incident ticket.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from v6ops.events import EventType, SecurityEvent
from v6ops.policy.event_store import MAX_PAGE, EventStore
from v6ops.policy.vms import VmNotFoundError, VmSecurityService

REMEDIATION: dict[EventType, list[str]] = {
    EventType.RA_BLOCKED: ["Verify the RA guard configuration (allowed_routers, block_all_ra)",
                           "Check for compromised infrastructure sending router advertisements",
                           "Review the network topology: which port the RAs arrive on"],
    EventType.SOURCE_VALIDATION_FAILED: ["Strengthen source validation (strict_ingress, allowed prefixes)",
                                         "Investigate the VM for compromise (spoofed sources leave it)",
                                         "Review the customer's access patterns"],
    EventType.RATE_LIMIT_EXCEEDED: ["Analyse the traffic pattern (v6ops flows report)",
                                    "Raise the rate limits if the traffic is legitimate",
                                    "Investigate a possible DDoS"],
    EventType.EXTENSION_HEADER_BLOCKED: ["Identify the sender of the extension headers (fragments, routing headers)",
                                         "Allow the header type only if an application needs it (RFC 9288)"],
    EventType.COMPLIANCE_VIOLATION: ["Fix the failing requirement named in the event's details",
                                     "Re-run v6ops policy compliance and record the evidence"],
    EventType.PORT_SCAN: ["Block or rate-limit the scanning source", "Check which ports answered"],
    EventType.ADDRESS_SCAN: ["Block the scanning source", "Check the VM for services exposed on unexpected addresses"],
    EventType.HIGH_VOLUME: ["Confirm the traffic is expected; otherwise rate-limit the VM", "Check for exfiltration"],
    EventType.REJECTION_RATE: ["Review recent policy changes (the VM's history)", "Check for scanning behind the rejects"],
    EventType.SUSPICIOUS_SOURCE: ["Block the source", "Look for other VMs it reached (affected VMs below)"],
}
DEFAULT_REMEDIATION = ["Review the security configuration", "Check for policy violations",
                       "Consider additional monitoring"]


class InvestigationNotFoundError(ValueError):
    """The event does not exist."""


class Investigation(BaseModel):
    event: dict[str, Any]
    window_start: str
    window_end: str
    vm_id: str
    customer_id: str
    vm_exists: bool
    correlated_events: list[dict[str, Any]]
    correlated_by_severity: dict[str, int]
    config_version: int | None
    config_at_event_time: dict[str, Any] | None
    affected_vms: list[dict[str, Any]]
    remediation: list[str]


def _all_events(store: EventStore, **filters: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = store.query(offset=offset, limit=MAX_PAGE, **filters)
        out += page.events
        if page.next_offset is None:
            return out
        offset = page.next_offset


def investigate(events: EventStore, vms: VmSecurityService, event_id: str,
                window: timedelta = timedelta(hours=1), tenant: str | None = None) -> Investigation:
    """``tenant``: the caller's; the investigation then sees that customer's events and VMs only."""
    event: SecurityEvent | None = events.get(event_id, tenant)
    if event is None:
        raise InvestigationNotFoundError(f"event {event_id!r} does not exist")
    start, end = event.timestamp - window, event.timestamp + window
    correlated = [e for e in _all_events(events, vm_id=event.vm_id, start=start, end=end, tenant=tenant)
                  if e["event_id"] != event_id]
    config, version, exists, customer = None, None, True, event.customer_id
    try:
        current = vms.get(event.vm_id, tenant)
        customer = customer or current.customer_id
    except VmNotFoundError:
        exists = False
    try:
        at = vms.history(event.vm_id, event.timestamp, tenant)[0]
        config, version = at.ipv6_config, at.version
    except VmNotFoundError:
        pass
    in_window = _all_events(events, start=start, end=end, tenant=tenant)
    per_vm = Counter(e["vm_id"] for e in in_window)
    return Investigation(
        event=event.to_dict(), window_start=start.isoformat(), window_end=end.isoformat(), vm_id=event.vm_id,
        customer_id=customer, vm_exists=exists, correlated_events=correlated,
        correlated_by_severity=dict(Counter(e["severity"] for e in correlated)), config_version=version,
        config_at_event_time=config,
        affected_vms=[{"vm_id": vm, "events": n} for vm, n in sorted(per_vm.items(), key=lambda kv: (-kv[1], kv[0]))],
        remediation=REMEDIATION.get(event.event_type, DEFAULT_REMEDIATION))


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(inv: Investigation) -> str:
    e = inv.event
    lines = [f"# Security event {_cell(e['event_id'])}", "",
             "| field | value |", "|---|---|"]
    for key in ("timestamp", "event_type", "severity", "vm_id", "customer_id", "source_ip", "destination_ip",
                "description"):
        lines.append(f"| {key} | {_cell(e.get(key) or '')} |")
    lines += ["", f"## Correlated events ({inv.window_start} to {inv.window_end})", ""]
    if inv.correlated_events:
        lines += ["| time | type | severity | source | id |", "|---|---|---|---|---|"]
        lines += [f"| {c['timestamp']} | {c['event_type']} | {c['severity']} | {_cell(c.get('source_ip') or '')} "
                  f"| {_cell(c['event_id'])} |" for c in inv.correlated_events]
    else:
        lines.append("None.")
    lines += ["", "## Configuration at the time of the event", ""]
    if inv.config_at_event_time is None:
        lines.append("No configuration version was in force (the VM was not managed by v6ops then).")
    else:
        sec = inv.config_at_event_time.get("security", {})
        lines.append(f"Version {inv.config_version}, profile {sec.get('profile', '')}.")
        for section in ("ra_guard", "source_validation", "extension_headers", "rate_limits"):
            if section in sec:
                lines.append(f"- {section}: `{_cell(sec[section])}`")
    lines += ["", "## Affected VMs in the window", "", "| VM | events |", "|---|---|"]
    lines += [f"| {_cell(a['vm_id'])} | {a['events']} |" for a in inv.affected_vms]
    lines += ["", f"Customer: {_cell(inv.customer_id) or 'unknown'}"
              + ("" if inv.vm_exists else " (the VM no longer exists)"), "", "## Remediation", ""]
    lines += [f"- {step}" for step in inv.remediation]
    return "\n".join(lines) + "\n"
