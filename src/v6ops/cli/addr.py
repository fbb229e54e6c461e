from __future__ import annotations

from typing import Any

import typer

from v6ops.addr import AddressValueError, PrefixValueError, explain
from v6ops.cli.output import JsonOption, console, err_console, print_json, print_table

app = typer.Typer(help="Address core: explain, classify, prefix math.", no_args_is_help=True)


def _render(info: dict[str, Any]) -> None:
    emb = info["embedded_ipv4"]
    print_table(
        f"{info['input']}",
        ["field", "value"],
        [
            ("canonical", info["canonical"]),
            ("family", f"IPv{info['family']}"),
            ("type", info["type"]),
            ("prefix length", info["prefix_length"]),
            ("kind", info["kind"]),
            ("multicast scope", info["multicast_scope"]),
            ("embedded IPv4", f"{emb['address']} ({emb['mechanism']}, {emb['rfc']})" if emb else None),
            ("reverse name", info["reverse_name"]),
            ("range", f"{info['first']} - {info['last']}"),
        ],
    )
    if info["classes"]:
        flag = {True: "yes", False: "no", None: "n/a"}
        print_table(
            None,
            ["registry row", "prefix", "rfc", "src", "dst", "fwd", "global", "reserved"],
            [
                (r["name"], r["prefix"], r["rfc"], flag[r["source"]], flag[r["destination"]],
                 flag[r["forwardable"]], flag[r["globally_reachable"]], flag[r["reserved_by_protocol"]])
                for r in info["classes"]
            ],
        )


@app.command("explain")
def explain_cmd(
    items: list[str] = typer.Argument(..., metavar="ADDRESS_OR_PREFIX..."),
    as_json: bool = JsonOption,
) -> None:
    """Canonical form, family, registry rows, embedded IPv4 and reverse name of each input."""
    failed = 0
    for text in items:
        try:
            info = explain(text)
        except (AddressValueError, PrefixValueError) as exc:
            err_console.print(f"error: {exc}", highlight=False, soft_wrap=True, markup=False)
            failed += 1
            continue
        if as_json:
            print_json(info)
        else:
            _render(info)
            console.print()
    if failed:
        raise typer.Exit(2)
