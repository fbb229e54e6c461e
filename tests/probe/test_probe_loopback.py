"""``v6ops probe`` and ``POST /api/v1/probes`` against a DNS server and serve-echo started on ::1 and 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from tests.api_client import api_client
from v6ops.addr import Address
from v6ops.cli.main import app as cli
from v6ops.probe.resolve import DnsResolver
from v6ops.settings import Settings

runner = CliRunner()


def probe_json(lab, *args: str) -> dict:
    # Three connects per address: one scheduling hiccup on a busy machine must not read as "IPv6 slower".
    result = runner.invoke(cli, ["probe", "--json", "--resolver", f"127.0.0.1:{lab['dns']}", "--timeout", "2",
                                 "--samples", "3", *args])
    assert result.exit_code in (0, 2), result.output
    return json.loads(result.stdout)


def by_target(run: dict) -> dict[str, dict]:
    return {r["target"]: r for r in run["results"]}


def test_dnspython_resolver_answers_from_the_test_server(lab):
    resolver = DnsResolver([f"127.0.0.1:{lab['dns']}"])

    async def go():
        return await resolver.lookup("dual.test", 6), await resolver.lookup("dual.test", 4), await resolver.lookup("v4.test", 6)

    aaaa, a, none = asyncio.run(go())
    assert aaaa == [Address.parse("::1")] and a == [Address.parse("127.0.0.1")] and none == []


def test_verdicts_for_each_kind_of_target(lab):
    web, dns = lab["web"], lab["dns"]
    targets = [f"http://dual.test:{web}/health", f"v4.test:{web}", f"v6.test:{web}",
               f"broken6.test:{dns}",  # only the DNS server's IPv4 TCP socket listens on this port
               f"empty.test:{web}", f"gone.test:{web}", f"host:{70000}", "http://[::1", f"[::1]:{web}"]
    run = probe_json(lab, *targets)
    results = by_target(run)
    assert [r["target"] for r in run["results"]] == targets  # input order, whatever finished first
    verdicts = {t: results[t]["verdict"] for t in targets}
    assert verdicts == {
        f"http://dual.test:{web}/health": "dual-stack ok",
        f"v4.test:{web}": "IPv4 only",
        f"v6.test:{web}": "IPv6 only",
        f"broken6.test:{dns}": "IPv6 broken",
        f"empty.test:{web}": "no address",
        f"gone.test:{web}": "no address",
        "host:70000": "invalid target",
        "http://[::1": "invalid target",
        f"[::1]:{web}": "IPv6 only",
    }
    dual = results[f"http://dual.test:{web}/health"]
    assert {r["address"]: r["http_status"] for r in dual["addresses"]} == {"::1": 200, "127.0.0.1": 200}
    assert all(r["tcp_connect_ms"] is not None and r["http_ttfb_ms"] is not None for r in dual["addresses"])
    assert dual["happy_eyeballs"]["winner"] == "::1" and dual["happy_eyeballs"]["queries"][0]["rdtype"] == "AAAA"
    assert dual["dns"]["AAAA"]["addresses"] == ["::1"] and dual["dns"]["A"]["addresses"] == ["127.0.0.1"]
    assert "does not exist" in results[f"gone.test:{web}"]["error"]
    assert "out of range" in results["host:70000"]["error"]
    assert "malformed URL" in results["http://[::1"]["error"]
    broken = results[f"broken6.test:{dns}"]
    assert broken["happy_eyeballs"]["winner"] == "127.0.0.1"
    assert [a["outcome"] for a in broken["happy_eyeballs"]["attempts"]] == ["failed", "connected"]
    assert run["summary"]["invalid target"] == 2 and run["summary"]["no address"] == 2


def test_bad_target_exit_code_is_2_but_every_target_is_reported(lab):
    result = runner.invoke(cli, ["probe", "--json", "--resolver", f"127.0.0.1:{lab['dns']}", "--no-icmp",
                                 "host:0", f"v4.test:{lab['web']}"])
    assert result.exit_code == 2
    assert [r["verdict"] for r in json.loads(result.stdout)["results"]] == ["invalid target", "IPv4 only"]


def test_bad_options_are_one_line_errors(lab):
    for args, message in ((["--resolver", "300.1.1.1", "x.test"], "resolver '300.1.1.1'"),
                          (["--every", "soon", "x.test"], "--every 'soon'"),
                          (["--nat64-prefix", "2001:db8::/33", "x.test"], "2001:db8::/33"),
                          ([], "no targets")):
        result = runner.invoke(cli, ["probe", *args])
        assert result.exit_code == 2 and message in result.output, result.output


def _stable(run: dict) -> list[dict]:
    """A run without what legitimately differs between two runs: ids, times, measured milliseconds, and
    whether the race was won before the A answer came in."""
    def scrub(value):
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()
                    if not k.endswith("_ms") and k not in {"id", "created_at", "started_at", "timestamp", "queries"}}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value
    return scrub(run["results"])


def test_cli_and_api_return_the_same_object_and_the_api_stores_it(lab, tmp_path: Path):
    target = f"http://dual.test:{lab['web']}/health"
    cli_run = probe_json(lab, "--no-icmp", target, "gone.test")
    client = api_client(Settings(data_dir=tmp_path))
    response = client.post("/api/v1/probes", json={"targets": [target, "gone.test"], "resolver": [f"127.0.0.1:{lab['dns']}"],
                                                   "timeout": 2, "icmp": False, "samples": 3})
    assert response.status_code == 201, response.text
    api_run = response.json()
    assert set(api_run) == set(cli_run) and api_run["options"] == cli_run["options"]
    assert _stable(api_run) == _stable(cli_run)
    stored = client.get(f"/api/v1/probes/{api_run['id']}")
    assert stored.status_code == 200 and stored.json() == api_run
    history = client.get("/api/v1/probes/history", params={"target": target}).json()
    assert [h["verdict"] for h in history] == ["dual-stack ok"]
    assert client.get("/api/v1/probes/0123").status_code == 404
    bad = client.post("/api/v1/probes", json={"targets": ["x.test"], "resolver": ["[::1"]})
    assert bad.status_code == 400 and "[::1" in bad.json()["detail"]
    assert client.post("/api/v1/probes", json={"targets": []}).status_code == 422


def test_domain_checks_cli_and_api_agree(lab, tmp_path: Path):
    domains = ["gone.test", "http://x.test/", "[::1]:53"]
    result = runner.invoke(cli, ["probe-domain", "--json", "--resolver", f"127.0.0.1:{lab['dns']}", *domains])
    assert result.exit_code == 2  # two invalid domains, reported after every domain was checked
    cli_report = json.loads(result.stdout)
    client = api_client(Settings(data_dir=tmp_path))
    response = client.post("/api/v1/probes/domains", json={"domains": domains, "resolver": [f"127.0.0.1:{lab['dns']}"]})
    assert response.status_code == 200 and response.json() == cli_report
    assert [r["verdict"] for r in cli_report["results"]] == ["no such domain", "invalid domain", "invalid domain"]
    assert client.post("/api/v1/probes/domains", json={"domains": ["a.test"], "scheme": "ftp"}).status_code == 422


def test_pmtu_on_a_small_response_is_untested(lab):
    run = probe_json(lab, "--pmtu", "--no-icmp", f"http://v6.test:{lab['web']}/health")
    result = run["results"][0]
    assert result["pmtu"] == "pmtu untested" and "too small" in result["pmtu_checks"][0]["reason"]
