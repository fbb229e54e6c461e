"""The API under load, measured with wrk (a C load tool) against real servers on loopback.

    python benchmarks/api_load.py [--workers N] [--seconds 10] [--postgres URL]

1. Reads: 16 concurrent connections GET /api/v1/ipam/subscribers/{name} (1,000 names in turn) with a
   viewer bearer token from ``v6ops serve --workers N`` (SQLite, WAL), beside a plain FastAPI
   hello-world run by the same uvicorn with the same worker count. Target >= 1,500 req/s, p99 < 50 ms.
2. Provisioning on PostgreSQL: 16 connections POST /api/v1/ipam/subscribers (dual-stack: IPv4 +
   IPv6 address + delegated prefix, unique names) into one pool, then into 16 different pools.
   Target >= 300/s with p99 < 150 ms on one pool, and 16 pools >= 1.5x that: at least 450/s (1.5 x the
   300/s floor), with p99 < 150 ms too.

Needs wrk (``apt-get install wrk``) and, for part 2, PostgreSQL (default: the tests' URL).
The ratios are printed last.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.api_client import wait_healthy  # noqa: E402
from tests.ipam.fixtures import new_postgres_url  # noqa: E402

from v6ops.auth.credentials import Role, create_token  # noqa: E402
from v6ops.ipam import service  # noqa: E402
from v6ops.ipam.plan import parse_plan  # noqa: E402
from v6ops.ipam.subscribers import SubscriberSpec  # noqa: E402
from v6ops.store.db import open_store  # noqa: E402

CONNECTIONS = 16
MANY_POOLS_FLOOR = 450  # 1.5 x the one-pool floor of 300/s
READ_NAMES = 1000
DEFAULT_PG = os.environ.get("V6OPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pool_spec(i: int) -> dict:
    return {"name": f"load-{i}", "role": "residential", "lab": True,
            "ipv4": {"prefix": f"10.{i}.0.0/16", "customer_length": 32},
            "ipv6_address": {"prefix": f"2001:db8:ff{i:02x}:1::/64", "customer_length": 128, "subnet": True},
            "ipv6_delegation": {"prefix": f"2001:db8:{i:x}00::/40", "customer_length": 64}}


PLAN = {"vrfs": ["global"], "pools": [pool_spec(i) for i in range(CONNECTIONS)]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, argv: list[str], env: dict[str, str], port: int) -> None:
        self.proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(self.base, self.proc)
        except RuntimeError:
            self.close()
            raise

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def v6ops_server(database_url: str, data_dir: Path, workers: int) -> Server:
    port = free_port()
    env = {"V6OPS_DATABASE_URL": database_url, "V6OPS_DATA_DIR": str(data_dir), "V6OPS_PORT": str(port),
           "V6OPS_LISTEN": '["127.0.0.1"]', "V6OPS_WORKERS": str(workers), "V6OPS_LOG_LEVEL": "warning"}
    return Server([sys.executable, "-m", "v6ops.cli", "serve"], env, port)


def hello_server(workers: int) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "hello_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return Server(argv, {"PYTHONPATH": str(HERE)}, port)


def wrk(url: str, seconds: int, script: str, threads: int = CONNECTIONS) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        done = subprocess.run(["wrk", f"-t{threads}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", fh.name, url],
                              capture_output=True, text=True, check=True)
    finally:
        os.unlink(fh.name)
    out = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rate": rate, "p50_ms": float(p50.group(1)) * scale[p50.group(2)],  # type: ignore[union-attr]
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)],  # type: ignore[union-attr]
            "bad": int(errors.group(1)) if errors else 0, "socket_errors": socket_errors.group(1) if socket_errors else ""}


def lua_headers(token: str) -> str:
    return f'wrk.headers["Authorization"] = "Bearer {token}"\nwrk.headers["Content-Type"] = "application/json"\n'


READ_SCRIPT = """
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", string.format("/api/v1/ipam/subscribers/sub-%05d", i % {names}))
end
"""

PROVISION_SCRIPT = """
local counter = 0
local threads = {{}}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  local pool = {pool}
  return wrk.format("POST", "/api/v1/ipam/subscribers", nil,
    string.format('{{"name": "%s-%d-%d", "pool": "%s"}}', "{tag}", id, counter, pool))
end
"""


def reads(tmp: Path, workers: int, seconds: int) -> tuple[dict[str, float], dict[str, float]]:
    url = f"sqlite:///{tmp / 'reads.db'}"
    store = open_store(url)
    service.plan_apply(store, parse_plan(PLAN))
    for i in range(READ_NAMES):
        service.add_subscriber(store, SubscriberSpec(name=f"sub-{i:05d}", pool=f"load-{i % CONNECTIONS}"))
    token, _ = create_token(store, "bench-reader", Role.VIEWER)
    store.close()
    open_store.cache_clear()
    server = v6ops_server(url, tmp, workers)
    try:
        assert httpx.get(server.base + "/api/v1/ipam/subscribers/sub-00001",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
        wrk(server.base, 2, lua_headers(token) + READ_SCRIPT.format(names=READ_NAMES))  # warm-up
        ours = wrk(server.base, seconds, lua_headers(token) + READ_SCRIPT.format(names=READ_NAMES))
    finally:
        server.close()
    hello = hello_server(workers)
    try:
        wrk(hello.base + "/hello", 2, "")
        base = wrk(hello.base + "/hello", seconds, "")
    finally:
        hello.close()
    return ours, base


def drop_schema(base: str, schema: str) -> None:
    engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def provisioning(tmp: Path, pg: str, workers: int, seconds: int) -> tuple[dict[str, float], dict[str, float]]:
    made: list[str] = []
    url = new_postgres_url(made, pg)
    schema = made[0]
    try:
        store = open_store(url)
        service.plan_apply(store, parse_plan(PLAN))
        token, _ = create_token(store, "bench-operator", Role.OPERATOR)
        store.close()
        open_store.cache_clear()
        server = v6ops_server(url, tmp, workers)
        try:
            head = lua_headers(token)
            wrk(server.base, 2, head + PROVISION_SCRIPT.format(pool='"load-0"', tag="warm"))
            one = wrk(server.base, seconds, head + PROVISION_SCRIPT.format(pool='"load-0"', tag="one"))
            many = wrk(server.base, seconds, head + PROVISION_SCRIPT.format(pool='"load-" .. (id % 16)', tag="many"))
        finally:
            server.close()
        check = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with check.connect() as conn:
            overlaps = conn.execute(text(
                "SELECT count(*) FROM allocations a JOIN allocations b ON a.id < b.id AND a.vrf_id = b.vrf_id "
                "AND a.cidr && b.cidr")).scalar()
        check.dispose()
        assert overlaps == 0, f"{overlaps} overlapping allocations"
    finally:
        drop_schema(pg, schema)
    return one, many


def show(label: str, r: dict[str, float]) -> None:
    extra = f"  non-2xx {r['bad']}" if r["bad"] else ""
    print(f"{label:<48} {r['rate']:9.0f} req/s   p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms{extra}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--postgres", default=DEFAULT_PG)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    print(f"{CONNECTIONS} connections, {args.workers} server workers, {args.seconds} s per run, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        ours, base = reads(tmp, args.workers, args.seconds)
        show("hello-world (plain FastAPI, same uvicorn)", base)
        show("GET /api/v1/ipam/subscribers/{name} (token)", ours)
        one = many = None
        if not args.skip_postgres:
            one, many = provisioning(tmp, args.postgres, args.workers, args.seconds)
            show("POST subscribers, dual-stack, 1 pool (PostgreSQL)", one)
            show("POST subscribers, dual-stack, 16 pools (PostgreSQL)", many)
    print(json.dumps({"reads": ours, "hello": base, "provision_one_pool": one, "provision_16_pools": many}))
    print(f"ratio authenticated reads / hello-world: {ours['rate'] / base['rate']:.2f} "
          f"(target >= 1500 req/s: {'met' if ours['rate'] >= 1500 and ours['p99_ms'] < 50 else 'NOT met'})")
    if one and many:
        print(f"16 pools: {many['rate']:.0f}/s, p99 {many['p99_ms']:.0f} ms (target >= {MANY_POOLS_FLOOR}/s with p99 "
              f"< 150 ms: {'met' if many['rate'] >= MANY_POOLS_FLOOR and many['p99_ms'] < 150 else 'NOT met'})")
        print(f"ratio 16 pools / 1 pool: {many['rate'] / one['rate']:.2f} (target >= 1.5; one pool >= 300/s p99 < 150 ms: "
              f"{'met' if one['rate'] >= 300 and one['p99_ms'] < 150 else 'NOT met'})")


if __name__ == "__main__":
    main()
