"""The host network plan for a policy: namespace, bridge, VLANs and routes, as iproute2 commands.

Printed by default; applied only with ``--apply`` as root. Each step carries a check
command so applying twice is harmless: a step whose check already succeeds is skipped.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from v6ops.policy.normalized import NormalizedPolicy


class HostPlanError(RuntimeError):
    """A step failed; the message names the step and what iproute2 said."""


@dataclass(frozen=True)
class Step:
    target: str
    why: str
    argv: tuple[str, ...]
    check: tuple[str, ...] = ()

    @property
    def shell(self) -> str:
        return shlex.join(self.argv)

    def as_dict(self) -> dict[str, object]:
        return {"target": self.target, "why": self.why, "command": self.shell,
                "check": shlex.join(self.check) if self.check else None}


def host_plan(policy: NormalizedPolicy) -> list[Step]:
    iso = policy.isolation
    name = policy.name
    steps: list[Step] = []
    if iso.namespace:
        steps.append(Step(name, "tenant network namespace", ("ip", "netns", "add", iso.namespace),
                          ("ip", "netns", "pids", iso.namespace)))
    if iso.bridge:
        br = iso.bridge
        vlans = [vid for vid in (iso.vlan, *iso.additional_vlans) if vid]
        if vlans:
            steps.append(Step(name, "tenant bridge with VLAN filtering (802.1Q)",
                              ("ip", "link", "add", br, "type", "bridge", "vlan_filtering", "1"),
                              ("ip", "link", "show", br)))
        else:
            steps.append(Step(name, "tenant bridge", ("ip", "link", "add", br, "type", "bridge"),
                              ("ip", "link", "show", br)))
        steps.append(Step(name, "bridge up", ("ip", "link", "set", br, "up")))
        for vid in vlans:
            steps.append(Step(name, f"VLAN {vid} on the bridge (802.1Q)",
                              ("bridge", "vlan", "add", "dev", br, "vid", str(vid), "self")))
        for prefix in policy.source.routed_prefixes:
            family = "-6" if prefix.version == 6 else "-4"
            steps.append(Step(name, "route the tenant prefix to its bridge (the uRPF check needs it)",
                              ("ip", family, "route", "replace", str(prefix), "dev", br)))
    return steps


def apply_plan(steps: Iterable[Step]) -> None:
    if os.geteuid() != 0:
        raise HostPlanError("--apply needs root (CAP_NET_ADMIN)")
    for step in steps:
        if step.check and subprocess.run(step.check, capture_output=True).returncode == 0:
            continue
        done = subprocess.run(step.argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise HostPlanError(f"{step.target}: {step.why}: `{step.shell}` failed: {done.stderr.strip()}")
