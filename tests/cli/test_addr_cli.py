from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from v6ops.cli.main import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("v6ops ")


def test_explain_json_has_the_documented_keys() -> None:
    result = runner.invoke(app, ["addr", "explain", "--json", "2001:DB8::0001", "64:ff9b::192.0.2.33", "10.0.0.0/8"])
    assert result.exit_code == 0, result.output
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["canonical"] for o in objs] == ["2001:db8::1", "64:ff9b::c000:221", "10.0.0.0/8"]
    assert [o["family"] for o in objs] == [6, 6, 4]
    assert [o["prefix_length"] for o in objs] == [128, 128, 8]
    assert objs[1]["embedded_ipv4"]["address"] == "192.0.2.33"
    assert objs[0]["embedded_ipv4"] is None
    assert objs[2]["reverse_name"] == "10.in-addr.arpa"
    row = objs[0]["classes"][-1]
    assert {k: row[k] for k in ("name", "prefix", "rfc", "source", "destination", "forwardable", "globally_reachable",
                                "reserved_by_protocol")} == {
        "name": "Documentation", "prefix": "2001:db8::/32", "rfc": "RFC 3849", "source": False,
        "destination": False, "forwardable": False, "globally_reachable": False, "reserved_by_protocol": False}


def test_explain_table_names_the_registry_row() -> None:
    result = runner.invoke(app, ["addr", "explain", "fd00::1"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "# fd00::1"
    assert "Unique-Local  fc00::/7  RFC 4193, RFC 8190  yes  yes  yes  no      no" in lines
    assert "reverse name     1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa" in lines


def test_invalid_input_exits_non_zero_with_one_clear_line_and_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "v6ops.cli", "addr", "explain", "2001:db8::g"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "error: '2001:db8::g' does not appear to be an IPv4 or IPv6 address: field 3 ('g') is not 1-4 hexadecimal digits"
    ]


def test_one_bad_input_among_good_ones_still_prints_the_good_ones() -> None:
    result = runner.invoke(app, ["addr", "explain", "--json", "::1", "1::2::3"])
    assert result.exit_code == 2
    assert json.loads(result.stdout.splitlines()[0])["canonical"] == "::1"
    assert "'::' may appear only once" in result.stderr


def test_tables_print_values_verbatim(capsys) -> None:  # type: ignore[no-untyped-def]
    from v6ops.cli.output import print_table

    print_table("[b]t[/b]", ["[col]"], [["[::1]:8600"], ["2001:db8:1:100::/56"]])
    out = capsys.readouterr().out
    assert "[::1]:8600" in out and "2001:db8:1:100::/56" in out and "[b]t[/b]" in out and "[col]" in out
