"""Load + validate a multi-tenant policy file vs plain pydantic validation of the same file.

    python benchmarks/policy_load.py [--tenants 10000]

The baseline is the floor any schema-checked loader pays: ``HostFile.model_validate``
of the parsed document (structure only: no profile merge, no origins, no semantic
rules). v6ops adds layering with per-field origins and every validation rule.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from v6ops.policy.load import load_text
from v6ops.policy.schema import HostFile
from v6ops.policy.validate import report_for


def document(tenants: int) -> str:
    customers: dict[str, Any] = {}
    for i in range(tenants):
        customers[f"customer-{i:05d}"] = {
            "profile": ["high", "SECURITY_PROFILE_MEDIUM", "low"][i % 3],
            "ra_guard": {"enabled": True, "block_all_ra": False, "allowed_routers": [f"fe80::{i % 65535 + 1:x}"],
                         "max_ra_rate": 5},
            "source_validation": {"strict_ingress": True, "strict_egress": True,
                                  "allowed_ingress_prefixes": [f"2a00:{i:x}::/32"],
                                  "allowed_egress_prefixes": ["2000::/3"]},
            # 4094 VLANs at most: later tenants are isolated by namespace and bridge alone
            "isolation": {"customer_vlan": 1 + i if i < 4094 else 0, "network_namespace": f"cust-{i}",
                          "bridge_interface": f"br-{i}"},
            "rate_limits": {"max_pps_per_vm": 5000 + i % 1000, "max_bandwidth_per_vm": 536870912},
        }
    return json.dumps({"metald": {"network": {"ipv6": {
        "enabled": True, "security_profile": "high",
        "default_security": {"extension_headers": {"mode": "SELECTIVE", "allowed_types": [0, 44, 60]},
                             "monitoring": {"enable_security_logging": True, "security_log_level": "WARN"}},
        "customer_configs": customers,
    }}}})


def best_of(runs: int, fn: Any) -> tuple[float, float]:
    """Best (CPU seconds, wall seconds): CPU time is what other jobs on a shared machine disturb least."""
    cpu, wall = [], []
    for _ in range(runs):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return min(cpu), min(wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    text = document(args.tenants)
    report = report_for(load_text(text, "bench.json", environ={}))
    assert len(report.targets) == args.tenants
    ours = best_of(args.runs, lambda: report_for(load_text(text, "bench.json", environ={})))
    baseline = best_of(args.runs, lambda: HostFile.model_validate(json.loads(text)))
    print(f"tenants: {args.tenants}  problems found: {report.errors} errors, {report.warnings} warnings")
    for label, (cpu, wall) in (("v6ops load + merge + validate", ours), ("pydantic model_validate only", baseline)):
        print(f"{label:31s} {cpu:7.3f} s CPU ({args.tenants / cpu:7.0f} tenants/s), {wall:7.3f} s wall")
    print(f"ratio v6ops/pydantic-only CPU time: {ours[0] / baseline[0]:.2f}x")


if __name__ == "__main__":
    main()
