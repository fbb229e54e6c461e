"""Compile 10,000 VM policies (schema target -> normalized -> nftables text), against the kernel's own parser.

    python benchmarks/policy_compile.py [--vms 10000] [--check-vms 500]

Baseline: ``nft -c -f`` (the nft userspace + kernel validating the same text) on the
first ``--check-vms`` tables, extrapolated and labelled as such; it needs root and
runs in a throwaway network namespace. The ratio says how much of "compile and
load" the compiler itself costs. Our side is process CPU time (a shared machine's
other jobs do not count); nft runs in a child process, so it is wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from v6ops.policy.compile_nft import compile_ruleset
from v6ops.policy.normalize import normalize_target
from v6ops.policy.normalized import GuardPolicy, QueueBackend
from v6ops.policy.validate import load_validated

SEED = Path(__file__).resolve().parents[1] / "examples" / "policies" / "ipv6-production.yaml"


def targets(n: int) -> list:  # type: ignore[type-arg]
    base = load_validated(SEED, environ={"SIEM_AUTH_TOKEN": "benchmark"}).targets[0]
    out = []
    for i in range(n):
        sv = base.security.source_validation.model_copy(
            update={"allowed_ingress_prefixes": [f"2001:db8:{i >> 8:x}:{i & 0xFF:x}00::/56"]})
        security = base.security.model_copy(update={"source_validation": sv})
        out.append(base.model_copy(update={"name": f"vm-{i:05d}", "security": security}))
    return out


def nft_check_seconds(text: str) -> float | None:
    if os.geteuid() != 0:
        return None
    ns = f"v6ops-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        start = time.perf_counter()
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", "-"], input=text, text=True, check=True,
                       capture_output=True)
        return time.perf_counter() - start
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=10_000)
    parser.add_argument("--check-vms", type=int, default=500)
    args = parser.parse_args()
    items = targets(args.vms)
    start = time.process_time()
    policies = [normalize_target(t) for t in items]
    normalized = time.process_time() - start
    start = time.process_time()
    text = compile_ruleset(policies)
    compiled = time.process_time() - start
    total = normalized + compiled
    print(f"{args.vms} VM policies: normalize {normalized:.3f} s + compile {compiled:.3f} s = {total:.3f} s CPU "
          f"({args.vms / total:,.0f} policies/s, {len(text) / 1e6:.1f} MB of nft text)")
    # this kernel may lack nft_queue (the guard then uses the xt backend): check what it can load
    xt = GuardPolicy(backend=QueueBackend.XT)
    sample = compile_ruleset(replace(p, guard=xt) for p in policies[: args.check_vms])
    check = nft_check_seconds(sample)
    if check is None:
        print("nft -c baseline skipped (needs root)")
        return
    extrapolated = check * args.vms / args.check_vms
    print(f"nft -c on {args.check_vms} tables: {check:.2f} s -> {extrapolated:.1f} s for {args.vms} (extrapolated)")
    print(f"ratio nft -c / v6ops compile: {extrapolated / total:.1f}x")


if __name__ == "__main__":
    main()
