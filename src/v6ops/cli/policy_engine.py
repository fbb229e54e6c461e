"""``v6ops policy compile|evaluate|guard|host-plan``: thin shells over the policy engine.

The commands join the ``policy`` group of ``v6ops.cli.policy`` through ``register``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import typer

from v6ops.cli.output import JsonOption, console, fail, print_json, print_table

PolicyOption = typer.Option(..., "--policy", "-p", help="Policy file (YAML or JSON).")
TargetOption = typer.Option(None, "--target", help="Only this VM or tenant (default: all in the file).")
TcpOption = typer.Option(None, "--tcp-ports", help="Open inbound TCP ports, comma separated (default: all open).")
UdpOption = typer.Option(None, "--udp-ports", help="Open inbound UDP ports, comma separated (default: all open).")
QueueOption = typer.Option(0, "--queue-num", help="NFQUEUE number the guard listens on.")
BackendOption = typer.Option("nft", "--queue-backend", help="nft (queue statement) or xt (mark + ip6tables NFQUEUE).")
BypassOption = typer.Option(False, "--bypass", help="Let packets through when no guard listens (default: fail closed).")


def _ports(text: str | None, label: str) -> tuple[int, ...]:
    if not text:
        return ()
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or not 0 < int(item) < 65536:
            fail(f"--{label}-ports: {item!r} is not a port number 1-65535")
        out.append(int(item))
    return tuple(out)


def load_policies(
    path: Path, target: str | None = None, tcp: str | None = None, udp: str | None = None,
    queue_num: int = 0, backend: str = "nft", bypass: bool = False,
) -> list[Any]:
    """Validated file -> normalized policies; any validation error stops here (never applied)."""
    from v6ops.cli.policy import validated_document
    from v6ops.policy.normalize import normalize_document
    from v6ops.policy.normalized import GuardPolicy, QueueBackend, Service

    document = validated_document(path)
    if backend not in ("nft", "xt"):
        fail(f"--queue-backend must be nft or xt, not {backend!r}")
    services = None
    if tcp is not None or udp is not None:
        services = (Service(6, _ports(tcp, "tcp")), Service(17, _ports(udp, "udp")))
    guard = GuardPolicy(queue_num=queue_num, bypass=bypass, backend=QueueBackend(backend))
    policies = normalize_document(document, services=services, guard=guard)
    if target is not None:
        policies = [p for p in policies if p.name == target]
        if not policies:
            fail(f"{path}: no target named {target!r}")
    if not policies:
        fail(f"{path}: no enabled targets")
    return policies


def compile_cmd(
    policy: Path = PolicyOption,
    target: str = TargetOption,
    output_format: str = typer.Option("nft", "--format", help="nft, iptables, sysctl or xt-guard."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    tcp_ports: str = TcpOption,
    udp_ports: str = UdpOption,
    queue_num: int = QueueOption,
    queue_backend: str = BackendOption,
    bypass: bool = BypassOption,
    as_json: bool = JsonOption,
) -> None:
    """Compile a validated policy file to an nftables ruleset (or ip6tables-restore / sysctl)."""
    from v6ops.policy.compile_iptables import compile_iptables
    from v6ops.policy.compile_nft import compile_ruleset, xt_guard_rules
    from v6ops.policy.sysctl import sysctl_file

    policies = load_policies(policy, target, tcp_ports, udp_ports, queue_num, queue_backend, bypass)
    renderers = {
        "nft": compile_ruleset,
        "iptables": compile_iptables,
        "sysctl": sysctl_file,
        "xt-guard": lambda ps: "".join(xt_guard_rules(p) for p in ps),
    }
    if output_format not in renderers:
        fail(f"--format must be one of {', '.join(renderers)}, not {output_format!r}")
    try:
        text = renderers[output_format](policies)
    except ValueError as exc:  # two targets on one table, sysctl values that contradict each other
        fail(f"{policy}: {exc}")
    if output is not None:
        output.write_text(text, encoding="utf-8")
    if as_json:
        print_json({"format": output_format, "targets": [p.name for p in policies],
                    "tables": [p.table for p in policies], "output": str(output) if output else None,
                    "text": None if output else text})
    elif output is None:
        typer.echo(text, nl=False)
    else:
        console.print(f"wrote {output_format} for {len(policies)} target(s) to {output}")


def evaluate_cmd(
    captures: list[Path] = typer.Argument(..., help="pcap or pcapng files."),
    policy: Path = PolicyOption,
    target: str = TargetOption,
    tcp_ports: str = TcpOption,
    udp_ports: str = UdpOption,
    limit: int = typer.Option(100, "--limit", help="Packets shown in the table (JSON has all)."),
    events: Path = typer.Option(None, "--events", help="Also append each drop's security event (JSON Lines)."),
    as_json: bool = JsonOption,
) -> None:
    """Verdict and deciding rule for every packet of the captures, under the same policy the compiler uses."""
    from v6ops.policy.evaluator import Evaluator, evaluate_frames
    from v6ops.policy.pcap import CaptureError, read_capture

    policies = load_policies(policy, target, tcp_ports, udp_ports)
    if len(policies) > 1:
        fail(f"{policy}: {len(policies)} targets; pick one with --target ({', '.join(p.name for p in policies)})")
    evaluator = Evaluator(policies[0])
    packets: list[dict[str, Any]] = []
    verdicts: Counter[str] = Counter()
    for capture in captures:
        try:
            for v in evaluate_frames(evaluator, read_capture(capture)):
                verdicts[v.verdict] += 1
                row = v.as_dict()
                row["capture"] = str(capture)
                packets.append(row)
        except (CaptureError, OSError) as exc:
            fail(str(exc))
    summary = {"packets": len(packets), "verdicts": dict(verdicts), "rules": evaluator.summary(),
               "malformed": evaluator.counters.get("malformed", 0)}
    if events is not None:
        from v6ops.events import EventValueError
        from v6ops.events.jsonl import JsonLinesSink

        try:
            sink = JsonLinesSink(events)
        except EventValueError as exc:
            fail(str(exc))
        for event in evaluator.events():
            sink.emit(event)
        sink.close()
        summary["events_written"] = len(evaluator.drops)
    if as_json:
        print_json({"policy": policies[0].name, "summary": summary, "packets": packets,
                    "events": [e.to_dict() for e in evaluator.events()]})
        return
    shown = packets[:limit]
    print_table(f"{len(packets)} packets, policy {policies[0].name}", ["#", "verdict", "rule", "src", "dst", "reason"],
                [[p["index"], p["verdict"], p["rule"], p["src"], p["dst"], p["reason"]] for p in shown])
    print_table("rules", ["rule", "packets"], sorted(evaluator.summary().items()))
    console.print(f"verdicts: {dict(verdicts)}")


def guard_cmd(
    policy: Path = PolicyOption,
    target: str = TargetOption,
    queue_num: int = QueueOption,
    bypass: bool = BypassOption,
    as_json: bool = JsonOption,
) -> None:
    """Serve NFQUEUE: RA options and header-chain checks for the compiled table (runs until SIGTERM)."""
    from v6ops.policy.guard import Guard

    policies = load_policies(policy, target, queue_num=queue_num, bypass=bypass)
    if len(policies) > 1:
        fail(f"{policy}: one guard serves one target; pick one with --target")
    try:
        stats = Guard(policies[0]).run()
    except OSError as exc:
        fail(f"cannot bind NFQUEUE {queue_num}: {exc} (needs root / CAP_NET_ADMIN)")
    if as_json:
        print_json(stats.as_dict())
    else:
        print_table("guard", ["rule", "packets"], sorted(stats.rules.items()))


def host_plan_cmd(
    policy: Path = PolicyOption,
    target: str = TargetOption,
    apply: bool = typer.Option(False, "--apply", help="Run the commands (root only)."),
    as_json: bool = JsonOption,
) -> None:
    """The namespace, bridge and VLAN commands for each target (printed; run with --apply as root)."""
    from v6ops.policy.hostplan import HostPlanError, apply_plan, host_plan

    policies = load_policies(policy, target)
    steps = [s for p in policies for s in host_plan(p)]
    if apply:
        try:
            apply_plan(steps)
        except HostPlanError as exc:
            fail(str(exc))
    if as_json:
        print_json([s.as_dict() for s in steps])
    else:
        print_table("host plan", ["target", "step", "command"], [[s.target, s.why, s.shell] for s in steps])


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("guard")(guard_cmd)
    app.command("host-plan")(host_plan_cmd)
