"""``v6ops ipam``: prefix plan, allocation, subscribers and devices (same objects as /api/v1/ipam)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import IntegrityError

from v6ops.addr import AddressValueError, PrefixValueError
from v6ops.cli.output import JsonOption, console, emit, fail, print_json, print_table
from v6ops.ipam import service
from v6ops.ipam.devices import DEVICES_PER_TRANSACTION
from v6ops.ipam.errors import IpamError
from v6ops.ipam.identities import Identities
from v6ops.ipam.plan import load_plan
from v6ops.ipam.provisioning import check as provisioning_check
from v6ops.ipam.provisioning import exports
from v6ops.ipam.provisioning import service as provisioning_service
from v6ops.ipam.provisioning.settings import ProvisioningSettings, load_provisioning_settings
from v6ops.ipam.subscriber_import import import_subscribers
from v6ops.ipam.subscribers import RateLimits, SubscriberSpec, SubscriberUpdate
from v6ops.settings import SettingsError, load_settings
from v6ops.store.db import Store, StoreError, open_store

app = typer.Typer(help="Dual-stack IPAM: prefix plan, allocations, subscribers, devices.", no_args_is_help=True)
plan_app = typer.Typer(help="The YAML prefix plan.", no_args_is_help=True)
subscriber_app = typer.Typer(help="Subscribers and their dual-stack service.", no_args_is_help=True)
device_app = typer.Typer(help="Devices: registration, bulk import, connectivity stats.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(subscriber_app, name="subscriber")
app.add_typer(device_app, name="device")
T = TypeVar("T")


@contextmanager
def _errors() -> Iterator[None]:
    """Every expected failure is one line on stderr and exit 2."""
    try:
        yield
    except (IpamError, AddressValueError, PrefixValueError, SettingsError, StoreError) as exc:
        fail(str(exc))
    except IntegrityError as exc:
        fail(f"conflicts with an existing record: {str(exc.orig).splitlines()[0]}")


def _store() -> Store:
    return open_store(load_settings().resolved_database_url())


def _call(fn: Callable[..., T], *args: Any) -> T:
    with _errors():
        return fn(_store(), *args)


def _changes_table(changes: list[dict[str, str]]) -> None:
    print_table("plan diff", ["action", "kind", "name", "detail"],
                [(c["action"], c["kind"], c["name"], c["detail"]) for c in changes if c["action"] != "unchanged"])
    unchanged = sum(c["action"] == "unchanged" for c in changes)
    console.print(f"{unchanged} unchanged")


@app.command()
def init(as_json: bool = JsonOption) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    with _errors():
        url = load_settings().resolved_database_url()
        store = open_store(url)
    emit({"database": store.engine.url.render_as_string(hide_password=True), "status": "current"}, as_json,
         lambda o: console.print(f"database {o['database']} is at the current schema"))


@plan_app.command("diff")
def plan_diff(file: Path, as_json: bool = JsonOption) -> None:
    """Show what ``plan apply`` would change."""
    with _errors():
        changes = service.plan_diff(_store(), load_plan(file))
    emit(changes, as_json, _changes_table)


@plan_app.command("apply")
def plan_apply(
    file: Path,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show the diff."),
    as_json: bool = JsonOption,
) -> None:
    """Show the diff, then make the database match the plan (idempotent; never deletes)."""
    with _errors():
        plan = load_plan(file)
        store = _store()
        changes = service.plan_diff(store, plan)
    pending = [c for c in changes if c["action"] in ("create", "update")]
    if not as_json:
        _changes_table(changes)
    if dry_run or not pending:
        if as_json:
            print_json(changes)
        return
    if not yes and not typer.confirm(f"apply {len(pending)} change(s)?"):
        fail("not applied")
    with _errors():
        applied = service.plan_apply(store, plan)
    emit(applied, as_json, lambda _: console.print(f"applied {len(pending)} change(s)"))


@app.command()
def prefixes(as_json: bool = JsonOption) -> None:
    """Every plan prefix with its exact utilization."""
    rows = _call(service.list_prefixes)
    emit(rows, as_json, lambda rs: print_table(
        "prefixes", ["name", "vrf", "prefix", "role", "pool", "customer", "used", "total", "used %"],
        [(r["name"], r["vrf"], r["prefix"], r["role"], r["pool"],
          f"/{r['customer_length']}" if r["customer_length"] is not None else "", r["used"], r["total"],
          f"{r['utilization_percent']:.2f}") for r in rs]))


@app.command("available-prefixes")
def available_prefixes(
    name: str, length: int = typer.Option(None, help="Prefix length (default: the range's customer size)."),
    limit: int = typer.Option(10, min=1, max=1000), as_json: bool = JsonOption,
) -> None:
    """The first free prefixes of a pool range, lowest first."""
    rows = _call(service.available_prefixes, name, length, limit)
    emit(rows, as_json, lambda rs: print_table(f"free in {name}", ["prefix"], [(r,) for r in rs]))


@app.command("available-ips")
def available_ips(name: str, limit: int = typer.Option(10, min=1, max=1000), as_json: bool = JsonOption) -> None:
    """The first free addresses of a pool range (usable bounds applied)."""
    rows = _call(service.available_ips, name, limit)
    emit(rows, as_json, lambda rs: print_table(f"free in {name}", ["address"], [(r,) for r in rs]))


def _allocation_table(rows: list[dict[str, Any]]) -> None:
    print_table("allocations", ["id", "prefix", "kind", "status", "pool", "subscriber", "device", "dns name"],
                [(r["id"], r["prefix"], r["kind"], r["status"], r["pool"], r["subscriber_id"], r["device_id"],
                  r["dns_name"]) for r in rows])


def _dual_stack_table(r: dict[str, Any]) -> None:
    print_table(f"{r['subscriber'] or r['device']} in {r['pool']} ({r['family_policy']})",
                ["IPv4", "IPv6 address", "IPv6 prefix", "DNS name"],
                [(r["ipv4"], r["ipv6_address"], r["ipv6_prefix"], r["dns_name"])])
    for w in r["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")


@app.command()
def allocate(
    pool: str = typer.Option(..., help="Pool name from the plan."),
    subscriber: str = typer.Option(None, help="Existing subscriber name."),
    device: str = typer.Option(None, help="Existing device name."),
    dns_name: str = typer.Option(None, help="One DNS name for the A and AAAA records."),
    as_json: bool = JsonOption,
) -> None:
    """Dual-stack allocation for a subscriber or device, as the pool's family policy says."""
    if (subscriber is None) == (device is None):
        fail("give exactly one of --subscriber or --device")
    emit(_call(service.provision, pool, subscriber, device, dns_name), as_json, _dual_stack_table)


@app.command()
def take(
    name: str,
    length: int = typer.Option(None, help="Prefix length (default: the range's customer size)."),
    address: bool = typer.Option(False, "--address", help="Take one address instead of a prefix."),
    description: str = typer.Option(""), dns_name: str = typer.Option(None), as_json: bool = JsonOption,
) -> None:
    """Allocate the first free prefix (or address) of a pool range."""
    if address and length is not None:
        fail("give --address or --length, not both")
    emit(_call(service.take_next, name, length, description, dns_name, address), as_json,
         lambda r: _allocation_table([r]))


@app.command()
def reserve(
    prefix: str, vrf: str = typer.Option("global"), description: str = typer.Option(""), as_json: bool = JsonOption
) -> None:
    """Reserve an exact prefix or address inside a pool range."""
    emit(_call(service.reserve, prefix, vrf, description), as_json, lambda r: _allocation_table([r]))


@app.command()
def release(prefix: str, vrf: str = typer.Option("global"), as_json: bool = JsonOption) -> None:
    """Release an allocation; it is reusable after the pool's quarantine."""
    emit(_call(service.release, prefix, vrf), as_json, lambda r: _allocation_table([r]))


@app.command()
def allocations(
    pool: str = typer.Option(None), limit: int = typer.Option(100, min=1, max=1000),
    offset: int = typer.Option(0, min=0), as_json: bool = JsonOption,
) -> None:
    """List allocations and reservations."""
    emit(_call(service.list_allocations, pool, limit, offset), as_json, _allocation_table)


@app.command()
def adoption(as_json: bool = JsonOption) -> None:
    """Dual-stack adoption: dual-stack, IPv4-only and IPv6-only subscribers."""
    emit(_call(service.adoption_metrics), as_json,
         lambda a: print_table("adoption", ["metric", "value"], list(a.items())))


@app.command()
def events(limit: int = typer.Option(50, min=1, max=1000), as_json: bool = JsonOption) -> None:
    """Recent IPAM events: threshold alerts, IPv6 fallbacks, plan changes."""
    emit(_call(service.list_events, limit), as_json, lambda es: print_table(
        "events", ["at", "severity", "kind", "pool", "message"],
        [(e["at"], e["severity"], e["kind"], e["pool"], e["message"]) for e in es]))


_USERNAME = typer.Option(None, help="RADIUS User-Name.")
_PASSWORD = typer.Option(None, envvar="V6OPS_RADIUS_PASSWORD", show_envvar=True,
                         help="RADIUS password (stored hashed); prefer the environment variable.")
_AUTH = typer.Option(None, help="'password' or 'nas' (the NAS authenticates; shared secret only).")
_DUID = typer.Option(None, help="DHCPv6 DUID (RFC 8415 s11: LLT, EN, LL or UUID), hex.")
_CLIENT_ID = typer.Option(None, help="DHCPv4 client-id (RFC 2132 s9.14), hex.")
_MAC = typer.Option(None, help="DHCPv4 hardware address.")
_CIRCUIT = typer.Option(None, help="Relay agent circuit-id (RFC 3046).")
_REMOTE = typer.Option(None, help="Relay agent remote-id (RFC 3046).")
_WG_KEY = typer.Option(None, help="The CPE's WireGuard public key (base64, as 'wg pubkey' prints).")


def _subscriber_table(rows: list[dict[str, Any]]) -> None:
    print_table("subscribers", ["name", "tenant", "tier", "status", "IPv4", "IPv6 address", "IPv6 prefix", "DNS name"],
                [(r["name"], r["tenant"], r["service_tier"], r["status"], r["ipv4"], r["ipv6_address"],
                  r["ipv6_prefix"], r["dns_name"]) for r in rows])


@subscriber_app.command("add")
def subscriber_add(
    name: str,
    pool: str = typer.Option(None, help="Provision from this pool in the same transaction."),
    tenant: str = typer.Option("default"),
    tier: str = typer.Option("residential", help="Service tier."),
    dns_name: str = typer.Option(None),
    ipv4_download: str = typer.Option(None, help="e.g. 100M"), ipv4_upload: str = typer.Option(None),
    ipv6_download: str = typer.Option(None), ipv6_upload: str = typer.Option(None),
    radius_username: str = _USERNAME, radius_password: str = _PASSWORD, radius_auth: str = _AUTH,
    duid: str = _DUID, client_id: str = _CLIENT_ID, mac: str = _MAC, circuit_id: str = _CIRCUIT, remote_id: str = _REMOTE,
    wireguard_key: str = _WG_KEY,
    as_json: bool = JsonOption,
) -> None:
    """Create a subscriber with its access identities (and provision it with --pool)."""
    from pydantic import ValidationError

    try:
        spec = SubscriberSpec(
            name=name, pool=pool, tenant=tenant, service_tier=tier, dns_name=dns_name,
            rate_limits=RateLimits.model_validate(
                {"ipv4": {"download": ipv4_download, "upload": ipv4_upload},
                 "ipv6": {"download": ipv6_download, "upload": ipv6_upload}}
            ),
            identities=Identities.model_validate({
                "radius_username": radius_username, "radius_password": radius_password, "radius_auth": radius_auth,
                "duid": duid, "dhcpv4_client_id": client_id, "mac": mac, "circuit_id": circuit_id,
                "remote_id": remote_id, "wireguard_public_key": wireguard_key}),
        )
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    emit(_call(service.add_subscriber, spec), as_json, lambda r: _subscriber_table([r]))


@subscriber_app.command("set")
def subscriber_set(
    name: str,
    status: str = typer.Option(None, help="active, suspended or terminated."),
    tenant: str = typer.Option(None), tier: str = typer.Option(None, help="Service tier."),
    dns_name: str = typer.Option(None, help="Rename: the A, AAAA and PTR records follow at the next sync."),
    ipv4_download: str = typer.Option(None), ipv4_upload: str = typer.Option(None),
    ipv6_download: str = typer.Option(None), ipv6_upload: str = typer.Option(None),
    radius_username: str = _USERNAME, radius_password: str = _PASSWORD, radius_auth: str = _AUTH,
    duid: str = _DUID, client_id: str = _CLIENT_ID, mac: str = _MAC, circuit_id: str = _CIRCUIT, remote_id: str = _REMOTE,
    wireguard_key: str = _WG_KEY,
    as_json: bool = JsonOption,
) -> None:
    """Change a subscriber's status, tenant, tier, DNS name, rate limits or identities ("" removes an identity)."""
    from pydantic import ValidationError

    identities = {"radius_username": radius_username, "radius_password": radius_password,
                  "radius_auth": radius_auth, "duid": duid, "dhcpv4_client_id": client_id, "mac": mac,
                  "circuit_id": circuit_id, "remote_id": remote_id, "wireguard_public_key": wireguard_key}
    try:
        change = SubscriberUpdate.model_validate({
            "status": status, "tenant": tenant, "service_tier": tier, "dns_name": dns_name,
            "rate_limits": {"ipv4": {"download": ipv4_download, "upload": ipv4_upload},
                            "ipv6": {"download": ipv6_download, "upload": ipv6_upload}},
            "identities": identities if any(v is not None for v in identities.values()) else None,
        })
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    emit(_call(service.change_subscriber, name, change), as_json, lambda r: _subscriber_table([r]))


@subscriber_app.command("delete")
def subscriber_delete(name: str, as_json: bool = JsonOption) -> None:
    """Delete a subscriber: its allocations are released, its records leave RADIUS, Kea and DNS at the next sync."""
    emit(_call(service.delete_subscriber, name), as_json, lambda r: _subscriber_table([r]))


@subscriber_app.command("show")
def subscriber_show(name: str, as_json: bool = JsonOption) -> None:
    emit(_call(service.get_subscriber, name), as_json, lambda r: _subscriber_table([r]))


@subscriber_app.command("list")
def subscriber_list(
    limit: int = typer.Option(100, min=1, max=1000), offset: int = typer.Option(0, min=0), as_json: bool = JsonOption
) -> None:
    emit(_call(service.list_subscribers, limit, offset), as_json, _subscriber_table)


def _import_report(report: dict[str, Any], file: Path, as_json: bool) -> None:
    """A bulk import's outcome; rejected rows (nothing was imported) are listed and exit 2."""
    if report["rejected"]:
        if as_json:
            print_json(report)
        else:
            print_table(f"rejected rows of {file} (nothing was imported)", ["line", "reason"],
                        [(r["line"], r["reason"]) for r in report["rejections"]])
        fail(f"{report['rejected']} of {report['rows']} rows rejected; nothing imported")
    emit(report, as_json, lambda r: print_table("import", ["metric", "value"],
                                                [(k, v) for k, v in r.items() if k != "rejections"]))


@subscriber_app.command("import")
def subscriber_import(file: Path, as_json: bool = JsonOption) -> None:
    """Bulk import from CSV (header: name,pool,dns_name,radius_username,duid,mac,...) or JSON Lines; all or nothing."""
    report = _call(import_subscribers, file)
    _import_report(report, file, as_json)


def _device_table(rows: list[dict[str, Any]]) -> None:
    print_table("devices", ["name", "region", "IPv4", "IPv6", "DNS name", "last seen"],
                [(r["name"], r["region"], r["ipv4"], r["ipv6"], r["dns_name"], r["last_seen"]) for r in rows])


@device_app.command("add")
def device_add(
    name: str, region: str = typer.Option(...), pool: str = typer.Option(None), dns_name: str = typer.Option(None),
    vrf: str = typer.Option("global"), as_json: bool = JsonOption,
) -> None:
    """Register one device (and allocate from --pool)."""
    raw = {"name": name, "region": region, "dns_name": dns_name}
    emit(_call(service.add_device, raw, pool, vrf), as_json, lambda r: _device_table([r]))


@device_app.command("list")
def device_list(
    region: str = typer.Option(None), limit: int = typer.Option(100, min=1, max=1000),
    offset: int = typer.Option(0, min=0), as_json: bool = JsonOption,
) -> None:
    emit(_call(service.list_devices, region, limit, offset), as_json, _device_table)


@device_app.command("seen")
def device_seen(
    name: str, at: str = typer.Option(None, help="ISO 8601 time (default: now)."), as_json: bool = JsonOption
) -> None:
    """Record a heartbeat: the device was seen."""
    emit(_call(service.device_seen, name, at), as_json, lambda r: _device_table([r]))


@device_app.command("stats")
def device_stats(as_json: bool = JsonOption) -> None:
    """Devices per region, seen in the last 24 h, and the connectivity rate."""
    emit(_call(service.device_stats), as_json, lambda rs: print_table(
        "device connectivity", ["region", "devices", "IPv6", "seen 24 h", "rate %"],
        [(r["region"], r["total_devices"], r["ipv6_devices"], r["last_seen_24h"], r["connectivity_rate"]) for r in rs]))


@device_app.command("import")
def device_import(
    file: Path, pool: str = typer.Option(..., help="Pool whose ipv6_address range holds the device subnets."),
    batch: int = typer.Option(DEVICES_PER_TRANSACTION,
        help="Devices per transaction (a multiple of 1,000); a crash loses at most one batch."),
    as_json: bool = JsonOption,
) -> None:
    """Bulk import from CSV (header: name,region[,dns_name,last_seen]) or JSON Lines; safe to re-run."""
    try:
        with file.open() as fh:
            total = sum(1 for _ in fh) - (0 if file.suffix in (".jsonl", ".ndjson", ".json") else 1)
    except OSError as exc:
        fail(f"cannot read import file {str(file)!r}: {exc.strerror}")
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=as_json) as progress:
        task = progress.add_task("import", total=max(total, 0))
        report = _call(service.import_devices, file, pool, lambda n: progress.advance(task, n), batch)
    _import_report(report, file, as_json)


def _provisioning() -> ProvisioningSettings:
    with _errors():
        return load_provisioning_settings()


@app.command("export")
def export(
    target: str = typer.Argument(..., help="radius, kea, dns, wireguard or notice"),
    output_dir: Path = typer.Option(None, "-o", "--output-dir", help="Write the files under this directory."),
    serial: int = typer.Option(None, help="DNS SOA serial (default: the current Unix time)."),
    as_json: bool = JsonOption,
) -> None:
    """The files FreeRADIUS, Kea, BIND, WireGuard or the customer read, each with a header naming v6ops."""
    settings = _provisioning()
    files = _call(exports.export, target, settings, serial)
    if output_dir is not None:
        with _errors():
            exports.write_files(files, output_dir)
    if as_json:
        print_json(files)
    elif output_dir is not None:
        print_table(f"export {target} -> {output_dir}", ["path", "lines", "bytes"],
                    [(r["path"], r["lines"], r["bytes"]) for r in exports.summary(files)])
    else:
        for f in files:
            sys.stdout.write(f"==> {f['path']} <==\n{f['content']}")


@app.command("sync")
def sync(
    target: str = typer.Argument(..., help="radius, kea or dns"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the changes; write nothing."),
    full: bool = typer.Option(False, "--full", help="Compare every record v6ops owns, not only queued changes."),
    as_json: bool = JsonOption,
) -> None:
    """Make FreeRADIUS's SQL rows, Kea's hosts or the DNS zones equal the IPAM (only the differences are written)."""
    settings = _provisioning()
    report = _call(provisioning_service.sync, target, settings, dry_run, full)
    emit(report, as_json, _sync_table)


def _sync_table(r: dict[str, Any]) -> None:
    print_table(f"sync {r['target']}{' (dry run)' if r['dry_run'] else ''}", ["action", "subscriber", "record"],
                [(c["action"], c["subscriber"], c["record"]) for c in r["changes"]])
    verb = "would change" if r["dry_run"] else "changed"
    console.print(f"{r['added']} added, {r['deleted']} deleted; {verb} {r['subscribers_changed']} subscriber(s)")


@app.command("check")
def check(
    only: list[str] = typer.Option(None, "--only", help="ipam, dns, radius or kea (repeatable); default all."),
    as_json: bool = JsonOption,
) -> None:
    """Audit RADIUS, Kea and DNS against the IPAM; each problem says what to run. Exit 1 when there are problems."""
    settings = _provisioning()
    result = _call(provisioning_check.check, settings, only or None)
    emit(result, as_json, lambda r: print_table(
        f"check: {r['problems']} problem(s), {r['subscribers']} subscribers", ["check", "subject", "problem", "fix"],
        [(f["check"], f["subject"], f["problem"], f["fix"]) for f in r["findings"]]))
    if result["problems"]:
        raise typer.Exit(1)
