"""``v6ops demo load``: a realistic world in an empty database (see v6ops.demo)."""

from __future__ import annotations

import typer
from rich.progress import Progress

from v6ops.cli.output import JsonOption, console, emit, fail
from v6ops.ipam.errors import IpamError
from v6ops.policy.vms import VmError
from v6ops.settings import SettingsError, load_settings
from v6ops.store.db import StoreError, open_store

app = typer.Typer(help="A demo world for a first look at the dashboard.", no_args_is_help=True)


@app.command("load")
def load(
    subscribers: int = typer.Option(3000, min=0, max=200_000, help="Dual-stack subscribers to provision."),
    devices: int = typer.Option(2000, min=0, max=1_000_000, help="IoT devices to register."),
    vms: int = typer.Option(12, min=0, max=10_000, help="VMs with IPv6 security configs (and their events)."),
    seed: int = typer.Option(6, help="Random seed: the same seed makes the same world."),
    as_json: bool = JsonOption,
) -> None:
    """Fill an EMPTY database with a prefix plan, subscribers, devices, a flow report, VMs and security events."""
    from v6ops.demo import load_demo

    try:
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.resolved_database_url())
        with Progress(console=console, transient=True, disable=as_json) as bar:
            task = bar.add_task("loading the demo", total=subscribers + devices)
            made = load_demo(store, settings.data_dir, subscribers, devices, seed,
                             progress=lambda _what, n: bar.advance(task, n), vms=vms)
    except (IpamError, SettingsError, StoreError, VmError) as exc:
        fail(str(exc))
    emit(made, as_json, lambda m: console.print(
        f"demo loaded: {m['subscribers']} subscribers, {m['devices']} devices, {m['pools']} pools, "
        f"{m['flow_records']} flow records (logs in {m['flow_logs']}), {m['vms']} VMs with {m['vm_events']} security "
        f"events, {m['flow_detections']} flow detections; now run: v6ops serve", highlight=False))
