"""``v6ops probe``: dual-stack probes of hosts, URLs and host:port targets; ``v6ops serve-echo``."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from v6ops.cli.output import JsonOption, err_console, fail, print_json, print_table


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not match:
        raise ValueError(f"--every {text!r}: expected a duration such as 60s, 5m or 1h")
    value, unit = float(match.group(1)), match.group(2) or "s"
    seconds = value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    if seconds <= 0:
        raise ValueError(f"--every {text!r}: must be more than zero")
    return seconds


def _family_cell(summary: dict[str, Any] | None) -> str:
    if not summary or not summary["addresses"]:
        return "-"
    text = f"{summary['reachable']}/{summary['addresses']}"
    if summary["best_connect_ms"] is not None:
        text += f" {summary['best_connect_ms']:.1f} ms"
    return text


def _render(run: dict[str, Any]) -> None:
    rows = []
    for r in run["results"]:
        fam = r.get("families") or {}
        he = r.get("happy_eyeballs") or {}
        winner = f"{he['winner']} @ {he['connected_ms']:.1f} ms" if he.get("winner") else (he.get("error") and "none") or "-"
        verdict = f"{r['verdict']}; {r['pmtu']}" if r.get("pmtu") else r["verdict"]
        rows.append([r["target"], verdict, _family_cell(fam.get("IPv6")), _family_cell(fam.get("IPv4")), winner,
                     r["error"] or ""])
    print_table(f"probe run {run['id']}", ["target", "verdict", "IPv6 ok/addrs connect", "IPv4 ok/addrs connect",
                                           "Happy Eyeballs winner", "error"], rows)


def _one_round(texts: list[Any], options: Any, concurrency: int) -> dict[str, Any]:
    """One run over every target, with a progress bar on a terminal (stderr, so --json stays clean)."""
    from v6ops.probe.run import run_probes

    progress = Progress(TextColumn("probing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err_console, transient=True, disable=len(texts) < 2 or not err_console.is_terminal)
    with progress:
        task = progress.add_task("probe", total=len(texts))
        return asyncio.run(run_probes(texts, options, concurrency=concurrency,
                                      on_result=lambda _r: progress.advance(task)))


def probe(
    targets: list[str] = typer.Argument(None, metavar="TARGET...", help="Host names, addresses, host:port or URLs"),
    targets_file: Path = typer.Option(None, "--file", "-f", help="Read targets from a file, one per line"),
    from_ipam: bool = typer.Option(False, "--from-ipam", help="Probe every active IPAM subscriber: its addresses and its DNS name"),
    icmp_only: bool = typer.Option(False, "--icmp-only", help="Reachability by ICMP echo alone (no TCP, no race)"),
    resolver: list[str] = typer.Option(None, "--resolver", help="Name server (address or address:port; [v6]:port); repeatable"),
    port: int = typer.Option(443, help="Port for targets without one"),
    timeout: float = typer.Option(3.0, help="Seconds per step (look-up, connect, handshake, request)"),
    samples: int = typer.Option(1, help="TCP connects per address; the median is reported"),
    tls: bool = typer.Option(None, "--tls/--no-tls", help="TLS handshake (default: for https URLs)"),
    insecure: bool = typer.Option(False, help="Do not verify TLS certificates"),
    http: bool = typer.Option(None, "--http/--no-http", help="HTTP request (default: for URLs)"),
    icmp: bool = typer.Option(True, "--icmp/--no-icmp", help="ICMP echo when permitted"),
    attempt_delay_ms: float = typer.Option(250.0, help="Happy Eyeballs Connection Attempt Delay, clamped to [10, 2000]"),
    resolution_delay_ms: float = typer.Option(50.0, help="Happy Eyeballs Resolution Delay"),
    first_family_count: int = typer.Option(1, help="Happy Eyeballs First Address Family Count"),
    nat64_prefix: str = typer.Option("discover", help="'discover' (RFC 7050), 'none', or a NAT64 prefix"),
    slower_ms: float = typer.Option(50.0, help="Report 'IPv6 slower by N ms' above this gap"),
    pmtu: bool = typer.Option(False, "--pmtu", help="Path MTU check: fetch the URL (> 1280 bytes) over each IPv6 address"),
    pmtu_timeout: float = typer.Option(5.0, help="Seconds the PMTU check waits for the large response"),
    concurrency: int = typer.Option(64, help="Targets probed at once"),
    every: str = typer.Option(None, help="Probe again every interval (60s, 5m) and keep each target's history"),
    count: int = typer.Option(None, help="With --every: stop after this many rounds"),
    output: str = typer.Option(None, help="Also write results: jsonl or csv (to --out, else stdout)"),
    out: Path = typer.Option(None, help="File for --output (appended to on each round)"),
    metrics: Path = typer.Option(None, help="Write Prometheus text (textfile collector) here after each round"),
    save: bool = typer.Option(None, "--save/--no-save", help="Store runs in the database (default: with --every)"),
    as_json: bool = JsonOption,
) -> None:
    """Probe targets over IPv6 and IPv4: DNS, TCP, TLS, HTTP, ICMP, a Happy Eyeballs race and a verdict."""
    from v6ops.probe import export
    from v6ops.probe.batch import read_targets, subscriber_targets
    from v6ops.probe.happy import parse_nat64_prefix
    from v6ops.probe.resolve import parse_nameserver
    from v6ops.probe.run import ProbeOptions

    texts: list[Any] = list(targets or [])
    store = None
    try:
        if targets_file is not None:
            texts.extend(read_targets(targets_file))
        interval = _duration(every) if every else None
        for server in resolver or []:
            parse_nameserver(server)
        if nat64_prefix not in ("discover", "none"):
            parse_nat64_prefix(nat64_prefix)
    except ValueError as exc:
        fail(str(exc))
    keep_history = bool(save or (save is None and interval is not None))
    if from_ipam or keep_history:
        from v6ops.ipam.service import MAX_LIST, list_subscribers

        store = _open_store()
        offset = 0
        while from_ipam and (page := list_subscribers(store, MAX_LIST, offset)):
            texts.extend(subscriber_targets(page))
            offset += len(page)
        if not keep_history:
            store = None
    if not texts:
        fail("no targets: give TARGET..., --file or --from-ipam (with subscribers)")
    if output not in (None, "jsonl", "csv"):
        fail(f"--output {output!r}: expected jsonl or csv")
    for name, value in (("--samples", samples), ("--concurrency", concurrency), ("--first-family-count", first_family_count)):
        if value < 1:
            fail(f"{name} must be at least 1, not {value}")
    if not 1 <= port <= 65535:
        fail(f"--port {port} is out of range (1-65535)")
    options = ProbeOptions(
        nameservers=list(resolver or []), default_port=port, timeout=timeout, samples=samples, tls=tls,
        insecure=insecure, http=http, icmp=icmp, attempt_delay=attempt_delay_ms / 1000,
        resolution_delay=resolution_delay_ms / 1000, first_address_family_count=first_family_count,
        nat64_prefix=None if nat64_prefix == "none" else nat64_prefix, slower_ms=slower_ms, pmtu=pmtu,
        pmtu_timeout=pmtu_timeout, icmp_only=icmp_only)
    if count is not None and count < 1:
        fail(f"--count must be at least 1, not {count}")
    rounds = 0
    csv_header = out is None or not out.exists() or out.stat().st_size == 0
    while True:
        started = time.monotonic()
        run = _one_round(texts, options, concurrency)
        if store is not None:
            from v6ops.probe.history import save_run

            save_run(store, run)
        if output is not None:
            text = "".join(export.jsonl_line(r) for r in run["results"]) if output == "jsonl" else \
                export.to_csv(run["results"], header=csv_header)
            csv_header = False
            if out is not None:
                with out.open("a") as fh:
                    fh.write(text)
            else:
                sys.stdout.write(text)
        if metrics is not None:
            tmp = metrics.with_name(metrics.name + ".tmp")
            tmp.write_text(export.prometheus_text(run["results"]))
            tmp.replace(metrics)
        if output is None or out is not None:
            if as_json:
                print_json(run)
            else:
                _render(run)
        rounds += 1
        if interval is None or (count is not None and rounds >= count):
            break
        try:
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:  # Ctrl-C between rounds ends a scheduled run quietly; every round is saved
            break
    if any(r["verdict"] == "invalid target" for r in run["results"]):
        raise typer.Exit(2)  # every target was probed; the bad ones are named in their results


def serve_echo(
    port: int = typer.Option(8080, help="TCP port (0: any free port, the same on every address)"),
    listen: list[str] = typer.Option(None, help="Address to listen on; repeat for several (default :: and 0.0.0.0)"),
    trusted_proxy: list[str] = typer.Option(None, "--trusted-proxy",
                                            help="Prefix whose Forwarded/X-Forwarded-For is believed; repeatable"),
) -> None:
    """A small dual-stack HTTP server that tells each client its family and address (/health, /, /payload)."""
    import uvicorn

    from v6ops.addr import Prefix
    from v6ops.api.server import ServerError, bind_sockets
    from v6ops.probe.echo import create_echo_app

    addresses = list(listen or ["::", "0.0.0.0"])
    try:
        proxies = [Prefix.parse(p, strict=False) for p in trusted_proxy or []]
        # Each IPv6 socket is IPV6_V6ONLY (bind_sockets), so :: and 0.0.0.0 are two separate listeners
        # and IPv4 clients are seen as IPv4, not as ::ffff:a.b.c.d.
        sockets = bind_sockets(addresses[:1], port)
        port = sockets[0].getsockname()[1]
        sockets += bind_sockets(addresses[1:], port)
    except (ValueError, ServerError) as exc:
        fail(str(exc))
    err_console.print(f"serve-echo listening on {', '.join(addresses)} port {port}", highlight=False, soft_wrap=True)
    config = uvicorn.Config(create_echo_app(proxies), log_config=None, access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=sockets)


def probe_domain(
    domains: list[str] = typer.Argument(..., metavar="DOMAIN...", help="Domains to check"),
    resolver: list[str] = typer.Option(None, "--resolver", help="Name server (address or address:port; [v6]:port); repeatable"),
    scheme: str = typer.Option("https", help="Web server scheme: http or https"),
    timeout: float = typer.Option(3.0, help="Seconds per query or fetch"),
    insecure: bool = typer.Option(False, help="Do not verify TLS certificates"),
    as_json: bool = JsonOption,
) -> None:
    """internet.nl-style IPv6 checks: name servers have AAAA and answer over IPv6; the web server has AAAA,
    is reachable over IPv6 and serves the same content over both families."""
    from v6ops.probe.domain import DomainOptions, check_domains
    from v6ops.probe.resolve import parse_nameserver

    if scheme not in ("http", "https"):
        fail(f"--scheme {scheme!r}: expected http or https")
    try:
        for server in resolver or []:
            parse_nameserver(server)
    except ValueError as exc:
        fail(str(exc))
    report = asyncio.run(check_domains(domains, DomainOptions(list(resolver or []), scheme, timeout, insecure)))
    if as_json:
        print_json(report)
    else:
        rows = [[r["domain"], r["verdict"], f"{r['passed']}/{r['total']}",
                 "; ".join(f"{c['id']}: {'ok' if c['ok'] else 'FAIL'} ({c['detail']})" for c in r["checks"]) or r["error"]]
                for r in report["results"]]
        print_table("domain IPv6 checks", ["domain", "verdict", "passed", "checks"], rows)
    if any(r["verdict"] == "invalid domain" for r in report["results"]):
        raise typer.Exit(2)


def _open_store() -> Any:
    from v6ops.settings import SettingsError, load_settings
    from v6ops.store.db import StoreError, open_store

    try:
        return open_store(load_settings().resolved_database_url())
    except (SettingsError, StoreError) as exc:
        fail(str(exc))


def probe_history(
    target: str = typer.Argument(..., help="The target as it was probed (or subscriber/NAME)"),
    limit: int = typer.Option(100, help="The latest this many results"),
    as_json: bool = JsonOption,
) -> None:
    """One target's stored results, oldest first (the same list as GET /api/v1/probes/history)."""
    from v6ops.probe.history import target_history

    if limit < 1:
        fail(f"--limit must be at least 1, not {limit}")
    history = target_history(_open_store(), target, limit)
    if as_json:
        print_json(history)
        return
    rows = [[r["started_at"], r["verdict"], _family_cell((r.get("families") or {}).get("IPv6")),
             _family_cell((r.get("families") or {}).get("IPv4")), r["error"] or ""] for r in history]
    print_table(f"history of {target}", ["started", "verdict", "IPv6 ok/addrs connect", "IPv4 ok/addrs connect", "error"],
                rows)


def probe_show(
    run_id: str = typer.Argument(..., help="A stored run's id"),
    as_json: bool = JsonOption,
) -> None:
    """A stored probe run (the same object as GET /api/v1/probes/{id})."""
    from v6ops.probe.history import ProbeRunNotFoundError, load_run

    try:
        run = load_run(_open_store(), run_id)
    except ProbeRunNotFoundError as exc:
        fail(str(exc))
    if as_json:
        print_json(run)
    else:
        _render(run)
