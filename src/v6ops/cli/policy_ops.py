"""``v6ops policy audit-log ...`` and the security operations commands: thin shells over ``v6ops.events``.

The commands join the ``policy`` group of ``v6ops.cli.policy`` through ``register``.
Exit codes: 0 fine, 1 a check failed (tampered log, failed readiness), 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from v6ops.cli.output import JsonOption, console, err_console, fail, print_json, print_table
from v6ops.events import EventValueError

audit_app = typer.Typer(help="The tamper-evident audit log: verify, keys.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    file: Path = typer.Argument(..., metavar="FILE", help="Audit log (JSON Lines)."),
    public_key: Path = typer.Option(None, "--public-key", help="Ed25519 public (or private) key PEM: check signatures."),
    key_file: Path = typer.Option(None, "--key-file", help="AES key file: also decrypt every record."),
    as_json: bool = JsonOption,
) -> None:
    """Walk the hash chain; report the first changed, deleted, inserted or reordered record and a cut tail."""
    from v6ops.events.audit import Keyring, load_verify_key, verify

    try:
        vk = load_verify_key(public_key) if public_key else None
        ring = Keyring.load(key_file) if key_file else None
        report = verify(file, vk, ring)
    except EventValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(report.as_dict())
    else:
        d = report.as_dict()
        problem = d.pop("problem")
        print_table(f"audit log {file}", ["check", "value"], [[k, v] for k, v in d.items() if k != "path"])
        if problem:
            console.print(f"{problem['kind']}: {problem['message']}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("rotate-key")
def audit_rotate_key(
    key_file: Path = typer.Argument(..., metavar="KEY_FILE", help="AES key file (created 0600 if missing)."),
    key_id: str = typer.Option(None, "--key-id", help="Id of the new key (default: time-based)."),
    as_json: bool = JsonOption,
) -> None:
    """Append a new AES-256 key; new records use it, old ones keep naming theirs."""
    from v6ops.events.audit import rotate_key

    try:
        kid = rotate_key(key_file, key_id)
    except EventValueError as exc:
        fail(str(exc))
    result: dict[str, Any] = {"key_file": str(key_file), "current": kid}
    if as_json:
        print_json(result)
    else:
        print_table(None, ["key file", "current key"], [[result["key_file"], kid]])


@audit_app.command("keygen")
def audit_keygen(
    path: Path = typer.Argument(..., metavar="PATH", help="Where to write the Ed25519 signing key (must not exist)."),
    as_json: bool = JsonOption,
) -> None:
    """Create the checkpoint signing key and its public half (PATH.pub) for verifiers."""
    from v6ops.events.audit import generate_signing_key

    try:
        pub = generate_signing_key(path)
    except FileExistsError:
        fail(f"{path}: already exists; refusing to overwrite a signing key")
    result = {"signing_key": str(path), "public_key": str(pub)}
    if as_json:
        print_json(result)
    else:
        print_table(None, ["signing key", "public key"], [[str(path), str(pub)]])


def alert_rules_cmd(
    namespace: str = typer.Option("metald_ipv6", "--namespace", help="Metric name prefix (the seed's by default)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the rules file here instead of stdout."),
    as_json: bool = JsonOption,
) -> None:
    """Write the seed's five IPv6 security alerts as a Prometheus rules file (check it with promtool)."""
    from v6ops.policy.alerts import alert_rules, alert_rules_text
    from v6ops.policy.metrics import MetricsValueError

    try:
        text = alert_rules_text(namespace)
    except MetricsValueError as exc:
        fail(str(exc))
    if output is None:
        if as_json:
            print_json(alert_rules(namespace))
        else:
            typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror}")
    rules = alert_rules(namespace)["groups"][0]["rules"]
    if as_json:
        print_json({"output": str(output), "alerts": [r["alert"] for r in rules]})
    else:
        print_table(f"wrote {output}", ["alert", "expr", "for", "severity"],
                    [[r["alert"], r["expr"], r["for"], r["labels"]["severity"]] for r in rules])


def _service() -> Any:
    """The VM security service on the configured database and audit log (the same the API uses)."""
    from v6ops.events.audit import AuditLog, Keyring, load_signing_key
    from v6ops.policy.vms import VmSecurityService
    from v6ops.settings import load_settings
    from v6ops.store.db import open_store

    settings = load_settings()
    path = settings.resolved_audit_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    audit = AuditLog(path, keyring=Keyring.load(settings.audit_key_file),
                     signing_key=load_signing_key(settings.audit_signing_key) if settings.audit_signing_key else None)
    return VmSecurityService(open_store(settings.resolved_database_url()), audit)


def rollout_cmd(
    state: Path = typer.Option(..., "--state", help="State file: created on the first run, resumed after."),
    phase: list[str] = typer.Option(["ra_guard", "source_validation", "full"], "--phase",
                                    help="Phases in order: ra_guard, source_validation, full."),
    tier: str = typer.Option("", "--tier", help="Customer tier for the source_validation phase (e.g. premium)."),
    batch_size: int = typer.Option(10, "--batch-size", min=1),
    pause: float = typer.Option(60.0, "--pause", min=0, help="Seconds to watch each batch before the next."),
    max_event_rate: float = typer.Option(1.0, "--max-event-rate", help="Stop above this many events/s per batch."),
    max_latency: float = typer.Option(0.1, "--max-latency", help="Stop above this p95 validation latency (s)."),
    prometheus: str = typer.Option(None, "--prometheus", help="Read the figures from this Prometheus server."),
    metrics_url: str = typer.Option("http://127.0.0.1:8600/metrics", "--metrics-url",
                                    help="v6ops's /metrics (used without --prometheus)."),
    token: str = typer.Option(None, "--token", envvar="V6OPS_TOKEN", show_default=False,
                              help="Bearer token for the v6ops service (better: the V6OPS_TOKEN variable)."),
    as_json: bool = JsonOption,
) -> None:
    """Roll security settings out in batches; stop and roll back a batch whose figures regress."""
    from v6ops.events import EventValueError as _EventError
    from v6ops.policy.rollout import ExpositionReader, PrometheusReader, Rollout, RolloutError, RolloutState, plan

    try:
        service = _service()
    except _EventError as exc:
        fail(str(exc))
    reader: Any = PrometheusReader(prometheus) if prometheus else ExpositionReader(metrics_url, token=token)

    def progress(batch: Any) -> None:
        if not as_json:
            m = batch.measured
            console.print(f"batch {batch.index} ({batch.phase}, {len(batch.vm_ids)} VMs): {batch.status}"
                          + (f"; {m.event_rate:.3g} events/s, p95 {m.latency_p95}" if m else "")
                          + (f"; {batch.reason}" if batch.reason else ""), highlight=False)

    try:
        current = RolloutState.load(state) if state.exists() else plan(
            service, phase, tier, batch_size, pause, max_event_rate, max_latency)
        result = Rollout(service, state, reader, service.audit, progress=progress, actor="cli-rollout").run(current)
    except RolloutError as exc:
        fail(str(exc))
    finally:
        service.audit.close()
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        print_table(f"rollout {result.status}", ["batch", "phase", "VMs", "status", "events/s", "p95 s", "reason"],
                    [[b.index, b.phase, len(b.vm_ids), b.status, f"{b.measured.event_rate:.3g}" if b.measured else "",
                      b.measured.latency_p95 if b.measured else "", b.reason] for b in result.batches])
    if result.status == "stopped":
        raise typer.Exit(1)


def investigate_cmd(
    event_id: str = typer.Argument(..., metavar="EVENT_ID"),
    window_minutes: int = typer.Option(60, "--window-minutes", min=1, help="Minutes either side of the event."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the Markdown incident report."),
    as_json: bool = JsonOption,
) -> None:
    """The event, its correlated events, the VM's config at that time, affected VMs, remediation."""
    from datetime import timedelta

    from v6ops.policy.event_store import EventStore
    from v6ops.policy.investigate import InvestigationNotFoundError, investigate, render_markdown

    service = _service()
    try:
        inv = investigate(EventStore(service.store), service, event_id, timedelta(minutes=window_minutes))
    except InvestigationNotFoundError as exc:
        fail(str(exc))
    finally:
        service.audit.close()
    if as_json:
        print_json(inv.model_dump(mode="json"))
    elif markdown:
        typer.echo(render_markdown(inv), nl=False)
    else:
        e = inv.event
        print_table(f"event {event_id}", ["field", "value"],
                    [[k, e.get(k)] for k in ("timestamp", "event_type", "severity", "vm_id", "customer_id",
                                             "source_ip", "description")]
                    + [["config version then", inv.config_version], ["correlated events", len(inv.correlated_events)]])
        print_table("affected VMs", ["VM", "events"], [[a["vm_id"], a["events"]] for a in inv.affected_vms])
        print_table("remediation", ["step"], [[step] for step in inv.remediation])


def readiness_cmd(
    rules: Path = typer.Option(None, "--rules", help="Prometheus rules file to look for the five alerts in."),
    prometheus: str = typer.Option(None, "--prometheus", help="Or: the Prometheus server that loaded them."),
    siem_url: str = typer.Option(None, "--siem-url", help="SIEM endpoint to reach (HTTPS, verified)."),
    siem_ca: str = typer.Option(None, "--siem-ca", help="CA bundle for the SIEM's certificate."),
    backup: Path = typer.Option(None, "--backup", help="Configuration backup written by v6ops policy backup."),
    min_coverage: float = typer.Option(95.0, "--min-coverage", help="Percent of VMs that must be secured."),
    as_json: bool = JsonOption,
) -> None:
    """The seed's production readiness checklist: pass/fail per check with its evidence."""
    from v6ops.policy.readiness import readiness

    service = _service()
    try:
        report = readiness(service, rules_file=rules, prometheus=prometheus, siem_url=siem_url, siem_ca=siem_ca,
                           backup=backup, min_coverage=min_coverage)
    finally:
        service.audit.close()
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        print_table(f"readiness: {'PASSED' if report.passed else 'FAILED'}", ["check", "result", "evidence", "fix"],
                    [[c.name, "pass" if c.passed else "FAIL", json.dumps(c.evidence, default=str),
                      "" if c.passed else c.fix] for c in report.checks])
    if not report.passed:
        raise typer.Exit(1)


def backup_cmd(
    output: Path = typer.Argument(..., metavar="FILE", help="Where to write the backup (JSON)."),
    as_json: bool = JsonOption,
) -> None:
    """Write every VM's current security config and version (secrets redacted) to FILE."""
    from v6ops.policy.readiness import write_backup

    service = _service()
    try:
        result = write_backup(service, output)
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror}")
    finally:
        service.audit.close()
    if as_json:
        print_json(result)
    else:
        print_table(None, ["backup", "VMs"], [[result["path"], result["vms"]]])


def precheck_cmd(
    policy: Path = typer.Option(None, "--policy", "-p", help="Check what this policy needs (default: everything)."),
    queue_backend: str = typer.Option("nft", "--queue-backend", help="nft (queue statement) or xt (ip6tables)."),
    as_json: bool = JsonOption,
) -> None:
    """Can this host enforce the policy? IPv6, nftables features, NFQUEUE, 802.1Q, netns; what to install."""
    from v6ops.cli.policy_engine import load_policies
    from v6ops.policy.compile_nft import compile_ruleset
    from v6ops.policy.precheck import precheck

    compiled, vlan = "", False
    if policy is not None:
        policies = load_policies(policy, backend=queue_backend)
        compiled = compile_ruleset(policies)
        vlan = any(p.isolation.vlan or p.isolation.additional_vlans for p in policies)
    report = precheck(compiled, vlan, queue_backend)
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        print_table(f"precheck: {'OK' if report.ok else 'MISSING'}", ["check", "result", "needed", "evidence", "fix"],
                    [[i.name, "ok" if i.ok else "missing", "yes" if i.needed else "no", i.evidence,
                      "" if i.ok else i.fix] for i in report.items])
    if not report.ok:
        raise typer.Exit(1)


def grpc_serve_cmd(
    listen: str = typer.Option("127.0.0.1:50051", "--listen", help="host:port for the gRPC VmService."),
    workers: int = typer.Option(8, "--workers", min=1),
) -> None:
    """Serve gRPC vmprovisioner.v1.VmService on the configured database until SIGTERM/SIGINT.

    Plaintext gRPC: listen on loopback (or put it behind a TLS-terminating proxy)."""
    import signal
    import threading

    from v6ops.policy.vmrpc.server import serve

    service = _service()
    try:
        server, port = serve(service, listen, workers)
    except RuntimeError as exc:  # grpc: "Failed to bind to address"
        service.audit.close()
        fail(f"--listen {listen}: {exc}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    err_console.print(f"VmService listening on {listen.rsplit(':', 1)[0]}:{port}", highlight=False)
    stop.wait()
    server.stop(5).wait()
    service.audit.close()


def counters_cmd(
    vm_id: str = typer.Argument(..., metavar="VM_ID"),
    api: str = typer.Option("http://127.0.0.1:8600", "--api", help="The v6ops service to feed."),
    netns: str = typer.Option(None, "--netns", help="Read the counters inside this network namespace."),
    token: str = typer.Option(None, "--token", envvar="V6OPS_TOKEN", show_default=False,
                              help="Bearer token for the v6ops service (better: the V6OPS_TOKEN variable)."),
    as_json: bool = JsonOption,
) -> None:
    """Read this host's named nft counters (nft -j list counters) and feed them to the service's metrics."""
    import subprocess

    import httpx

    argv = (["ip", "netns", "exec", netns] if netns else []) + ["nft", "-j", "list", "counters"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        fail(f"{exc.filename}: not installed")
    if done.returncode != 0:
        fail(f"{' '.join(argv)}: {done.stderr.strip()}")
    try:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        response = httpx.post(f"{api.rstrip('/')}/api/v1/vms/{vm_id}/counters", content=done.stdout,
                              headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        fail(f"--api {api}: {exc}")
    if response.status_code != 200:
        fail(f"{api}: HTTP {response.status_code}: {response.text.strip()}")
    result = response.json()
    if as_json:
        print_json(result)
    else:
        print_table(f"counters of {vm_id}", ["rule", "packets"], sorted(result["rules"].items()))


def register(app: typer.Typer) -> None:
    app.command("counters")(counters_cmd)
    app.command("vm-grpc")(grpc_serve_cmd)
    app.command("precheck")(precheck_cmd)
    app.command("readiness")(readiness_cmd)
    app.command("backup")(backup_cmd)
    app.command("investigate")(investigate_cmd)
    app.command("rollout")(rollout_cmd)
    app.add_typer(audit_app, name="audit-log")
    app.command("alert-rules")(alert_rules_cmd)
