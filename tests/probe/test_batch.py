"""Batch probes: targets from a file, JSON Lines / CSV, Prometheus text checked by promtool, --every with history."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from typer.testing import CliRunner

from tests.api_client import api_client
from tests.probe.servers import ROOT
from v6ops.cli.main import app as cli
from v6ops.probe.history import target_history
from v6ops.settings import Settings
from v6ops.store.db import Store

runner = CliRunner()


def targets_file(tmp_path: Path, lab) -> tuple[Path, list[str]]:
    targets = [f"dual.test:{lab['web']}", f"v4.test:{lab['web']}", f"broken6.test:{lab['dns']}", "host:0"]
    path = tmp_path / "targets.txt"
    path.write_text("# probe list\n\n" + "\n".join(f"{t}   # comment" for t in targets) + "\n")
    return path, targets


@pytest.mark.requires("promtool")
def test_file_csv_and_prometheus_metrics(lab, tmp_path: Path):
    path, targets = targets_file(tmp_path, lab)
    out, prom = tmp_path / "out.csv", tmp_path / "probe.prom"
    result = runner.invoke(cli, ["probe", "--resolver", f"127.0.0.1:{lab['dns']}", "--file", str(path), "--output", "csv",
                                 "--out", str(out), "--metrics", str(prom), "--json", "--concurrency", "2"])
    assert result.exit_code == 2  # host:0 is reported in its row, after the others were probed
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["target"] for r in rows] == targets
    assert [r["verdict"] for r in rows] == ["dual-stack ok", "IPv4 only", "IPv6 broken", "invalid target"]
    assert rows[2]["he_winner"] == "127.0.0.1" and rows[0]["ipv6_reachable"] == "1"

    text = prom.read_text()
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    dual, broken = targets[0], targets[2]
    assert samples[("v6ops_probe_success_ratio", (("family", "IPv6"), ("target", dual)))] == 1.0
    assert samples[("v6ops_probe_success_ratio", (("family", "IPv6"), ("target", broken)))] == 0.0
    assert samples[("v6ops_probe_packet_loss_percent", (("family", "IPv4"), ("target", dual)))] == 0.0
    # broken6's ::1 refuses TCP but answers ping: one of two probes lost.
    assert samples[("v6ops_probe_packet_loss_percent", (("family", "IPv6"), ("target", broken)))] == 50.0
    assert ("v6ops_probe_latency_seconds", (("family", "IPv6"), ("target", dual))) in samples
    assert samples[("v6ops_probe_targets", (("verdict", "invalid target"),))] == 1.0


def test_jsonl_on_stdout_is_one_line_per_target(lab, tmp_path: Path):
    path, targets = targets_file(tmp_path, lab)
    result = runner.invoke(cli, ["probe", "--resolver", f"127.0.0.1:{lab['dns']}", "--file", str(path), "--output", "jsonl",
                                 "--no-icmp"])
    lines = result.stdout.splitlines()
    assert [json.loads(line)["target"] for line in lines] == targets


def test_every_keeps_per_target_history(lab, tmp_path: Path):
    env = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path), "V6OPS_DATABASE_URL": ""}
    target = f"dual.test:{lab['web']}"
    cmd = [sys.executable, "-m", "v6ops.cli", "probe", "--resolver", f"127.0.0.1:{lab['dns']}", "--no-icmp", "--every", "200ms",
           "--count", "3", "--output", "jsonl", target]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    store = Store(f"sqlite:///{tmp_path / 'v6ops.db'}")
    history = target_history(store, target)
    store.close()
    assert [h["verdict"] for h in history] == ["dual-stack ok"] * 3
    times = [h["started_at"] for h in history]
    assert times == sorted(times) and len(set(times)) == 3

    # probe-history / probe-show print what GET /api/v1/probes/history and /{id} return.
    cli_env = {"V6OPS_DATA_DIR": str(tmp_path), "V6OPS_DATABASE_URL": ""}
    shown = runner.invoke(cli, ["probe-history", "--json", target], env=cli_env)
    assert shown.exit_code == 0 and json.loads(shown.stdout) == history
    client = api_client(Settings(data_dir=tmp_path))
    assert client.get("/api/v1/probes/history", params={"target": target}).json() == history
    store = Store(f"sqlite:///{tmp_path / 'v6ops.db'}")
    with store.read() as session:
        first_run = session.execute(text("SELECT id FROM probe_runs ORDER BY created_at, id")).scalars().first()
    store.close()
    shown_run = runner.invoke(cli, ["probe-show", "--json", first_run], env=cli_env)
    assert shown_run.exit_code == 0 and json.loads(shown_run.stdout) == client.get(f"/api/v1/probes/{first_run}").json()
    missing = runner.invoke(cli, ["probe-show", "0" * 32], env=cli_env)
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_missing_targets_file_is_a_one_line_error(tmp_path: Path):
    result = runner.invoke(cli, ["probe", "--file", str(tmp_path / "nope.txt")])
    assert result.exit_code == 2 and "nope.txt" in result.output and "No such file" in result.output


def test_subscriber_targets_skip_inactive_and_add_the_dns_name():
    from v6ops.probe.batch import subscriber_targets
    from v6ops.probe.run import ProbeItem

    subs = [{"name": "a", "status": "active", "ipv4": "100.64.0.1", "ipv6_address": "2001:db8::1", "dns_name": "a.isp.test"},
            {"name": "b", "status": "suspended", "ipv4": "100.64.0.2", "ipv6_address": None, "dns_name": "b.isp.test"},
            {"name": "c", "status": "active", "ipv4": None, "ipv6_address": None, "dns_name": None}]
    assert list(subscriber_targets(subs)) == [ProbeItem("subscriber/a", ("2001:db8::1", "100.64.0.1")), "a.isp.test"]
