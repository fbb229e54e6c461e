"""The ``v6ops`` command: one sub-command group per area."""

from __future__ import annotations

from pathlib import Path

import typer

from v6ops import __version__
from v6ops.cli import access, addr, demo
from v6ops.cli import audit as audit_cli
from v6ops.cli import flows as flows_cli
from v6ops.cli import ipam as ipam_cli
from v6ops.cli import migrate as migrate_cli
from v6ops.cli import policy as policy_cli
from v6ops.cli import probe as probe_cli
from v6ops.cli.output import fail

app = typer.Typer(help="v6ops: plan, secure, watch and verify an IPv6 / dual-stack network.", no_args_is_help=True)
app.add_typer(addr.app, name="addr")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(ipam_cli.app, name="ipam")
app.add_typer(flows_cli.app, name="flows")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(migrate_cli.app, name="migrate")
app.command("probe")(probe_cli.probe)
app.command("serve-echo")(probe_cli.serve_echo)
app.command("probe-domain")(probe_cli.probe_domain)
app.add_typer(access.token_app, name="token")
app.add_typer(access.user_app, name="user")
app.add_typer(demo.app, name="demo")
app.command("probe-history")(probe_cli.probe_history)
app.command("probe-show")(probe_cli.probe_show)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"v6ops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Options that apply to every command."""


@app.command()
def serve(
    port: int = typer.Option(None, help="TCP port (default 8600, or V6OPS_PORT)."),
    listen: list[str] = typer.Option(None, help="Address to listen on; repeat for several (default :: and 0.0.0.0)."),
    config: Path = typer.Option(None, help="TOML settings file (or V6OPS_CONFIG)."),
    workers: int = typer.Option(None, help="Server processes (default: one per CPU core, at most 8; or V6OPS_WORKERS)."),
) -> None:
    """Run the API and dashboard on IPv6 and IPv4 (the first start prints a one-time admin sign-in URL)."""
    from v6ops.api.server import ServerError
    from v6ops.api.server import serve as run
    from v6ops.settings import SettingsError, load_settings
    from v6ops.store.db import StoreError

    try:
        settings = load_settings(config, port=port, listen=listen or None, workers=workers)
        run(settings)
    except (SettingsError, ServerError, StoreError) as exc:
        fail(str(exc))


@app.command("alert-rules")
def alert_rules(
    output: Path = typer.Option(None, "--output", "-o", help="Write the rules file here (default: stdout)."),
) -> None:
    """Prometheus alerting rules for every area (the seed's three IPv6 alerts and the service's own)."""
    from v6ops.alerts import rules_text

    text = rules_text()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        fail(f"cannot write {str(output)!r}: {exc.strerror}")
    typer.echo(f"wrote {output}", err=True)


def main() -> None:
    app()
