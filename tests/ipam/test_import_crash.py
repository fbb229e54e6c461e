"""Bulk device import: bad files change nothing; SIGKILL halfway leaves whole batches; a re-run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.api_client import api_client
from tests.ipam.helpers import snapshot
from v6ops.ipam import service
from v6ops.ipam.devices import DEVICES_PER_SUBNET
from v6ops.store.db import Store
from v6ops.store.types import network_from_key

CLI = "from v6ops.cli.main import main; main()"
BATCH = 10 * DEVICES_PER_SUBNET  # devices per transaction (--batch)


def write_csv(path: Path, count: int) -> None:
    # Two days before the clock, whatever it says: outside the last-24-hours count, never in the future.
    last_seen = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("w") as fh:
        fh.write("name,region,dns_name,last_seen\n")
        for i in range(count):
            fh.write(f"sensor-{i:07d},region-{i % 4},sensor-{i:07d}.iot.example,{last_seen}\n")


def run_import(store: Store, path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "V6OPS_DATABASE_URL": store.url}
    return subprocess.Popen([sys.executable, "-c", CLI, "ipam", "device", "import", str(path), "--pool", "iot-devices",
                             "--batch", str(BATCH), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def device_count(store: Store) -> int:
    with store.read() as session:
        return int(session.execute(text("SELECT count(*) FROM devices")).scalar() or 0)


def check_consistent(store: Store) -> int:
    """Every device sits inside its own subnet allocation, at most DEVICES_PER_SUBNET per subnet."""
    with store.read() as session:
        subnets = {
            i: (network_from_key(bytes(n)), ln)
            for i, n, ln in session.execute(text("SELECT id, network, length FROM allocations WHERE kind = 'device-subnet'"))
        }
        per_subnet: dict[int, int] = {}
        addresses = set()
        for sid, address in session.execute(text("SELECT subnet_allocation_id, ipv6 FROM devices")):
            net, length = subnets[sid]
            value = network_from_key(bytes(address))
            assert net < value < net + (1 << (128 - length))  # never the subnet-router anycast (::)
            per_subnet[sid] = per_subnet.get(sid, 0) + 1
            addresses.add(value)
    assert all(n <= DEVICES_PER_SUBNET for n in per_subnet.values())
    assert len(per_subnet) == len(subnets)  # no subnet allocated without its devices
    return len(addresses)


@pytest.mark.slow
def test_sigkill_halfway_then_rerun_completes_without_duplicates(planned: Store, tmp_path: Path) -> None:
    total = 4 * BATCH
    path = tmp_path / "devices.csv"
    write_csv(path, total)
    proc = run_import(planned, path)
    deadline = time.monotonic() + 120
    while device_count(planned) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    survived = device_count(planned)
    assert 0 < survived < total, "the import finished before the kill; make the file bigger"
    assert survived % BATCH == 0  # whole transactions only
    assert check_consistent(planned) == survived

    rerun = run_import(planned, path)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    report = json.loads(out)
    assert report["already_present"] == survived and report["imported"] == total - survived
    assert device_count(planned) == total
    assert check_consistent(planned) == total
    stats = service.device_stats(planned)
    assert [s["total_devices"] for s in stats] == [total // 4] * 4
    assert all(s["last_seen_24h"] == 0 for s in stats)


def test_bad_rows_reject_the_whole_file(planned: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("name,region,last_seen\nok-1,eu,\nok-1,eu,\n,eu,\nx,eu,yesterday\n")
    before = snapshot(planned)
    proc = run_import(planned, path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "3 of 4 rows rejected; nothing imported" in err
    report = json.loads(out)
    assert [r["line"] for r in report["rejections"]] == [3, 4, 5]
    assert "appears twice" in report["rejections"][0]["reason"] and "ISO 8601" in report["rejections"][2]["reason"]
    assert snapshot(planned) == before


def test_jsonl_import_through_the_api(planned: Store, tmp_path: Path) -> None:
    from v6ops.settings import Settings

    body = "\n".join(json.dumps({"name": f"d{i}", "region": "eu", "dns_name": f"d{i}.example"}) for i in range(1500))
    with api_client(Settings(database_url=planned.url, data_dir=tmp_path), "operator") as client:
        r = client.post("/api/v1/ipam/devices/import?pool=iot-devices", content=body,
                        headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        assert r.json()["imported"] == 1500 and r.json()["subnets_allocated"] == 2
        again = client.post("/api/v1/ipam/devices/import?pool=iot-devices", content=body,
                            headers={"content-type": "application/x-ndjson"})
        assert again.json()["already_present"] == 1500 and again.json()["imported"] == 0
        bad = client.post("/api/v1/ipam/devices/import?pool=iot-devices", content='{"name": 1}\nnot json\n',
                          headers={"content-type": "application/x-ndjson"})
        assert bad.status_code == 422 and "not valid JSON" in bad.text
        devices = client.get("/api/v1/ipam/devices?limit=2").json()
    assert [d["ipv6"] for d in devices] == ["2001:db8:ff10::1", "2001:db8:ff10::2"]
