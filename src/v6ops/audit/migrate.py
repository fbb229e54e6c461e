"""Migration tracking: the seed's four phases with readiness from audit findings, adoption and
performance verdicts from ``v6ops flows report`` JSON, and a deterministic /64 subnet planner.

The seed carved subnets with ``$RANDOM % 256``, which hands out the same /64 twice; here a subnet's
/64 is the VPC /56's subnet number ``tier base + index`` (``cidrsubnet(vpc, 8, n)`` in Terraform),
and a slot already used is refused, never reused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from v6ops.addr import Prefix, PrefixValueError

PHASES: list[dict[str, Any]] = [
    {"phase": "infrastructure", "months": "1-3", "goal": "VPC and subnet IPv6, routes, NACLs and security groups, DNS64/NAT64",
     "checks": ("aws.vpc.", "aws.subnet.", "aws.route.", "aws.nacl.", "aws.sg."), "resources": (
         "Vpcs", "Subnets", "RouteTables", "NetworkAcls", "SecurityGroups")},
    {"phase": "load_balancers", "months": "4-6", "goal": "every load balancer dual-stack, IPv6 target groups",
     "checks": ("aws.elb.",), "resources": ("LoadBalancers", "TargetGroups")},
    {"phase": "applications", "months": "7-12", "goal": "services listen and are filtered alike on both families",
     "checks": ("host.",), "resources": ()},
    {"phase": "optimization", "months": "13-18", "goal": "flow logs on, IPv6 adoption above 50%, performance parity",
     "checks": ("aws.vpc.flow_logs_missing",), "resources": ("Vpcs",)},
]
# Flow logs belong to the optimisation phase (monitoring), not to infrastructure.
_PHASE_OVERRIDES = {"aws.vpc.flow_logs_missing": "optimization"}


class MigrationInputError(ValueError):
    """A plan input (report, flows report, subnet request) the planner cannot use; the message names it."""


def phase_of(check_id: str) -> str | None:
    if check_id in _PHASE_OVERRIDES:
        return _PHASE_OVERRIDES[check_id]
    for p in PHASES:
        if any(check_id.startswith(prefix) for prefix in p["checks"]):
            return str(p["phase"])
    return None


def adoption_verdict(share: float | None) -> str:
    """Seed rules: above 50% IPv6 is a successful migration, 25-50% is watched, below 25% is investigated."""
    if share is None:
        return "no_data"
    pct = share * 100
    return "successful" if pct > 50 else "monitor" if pct >= 25 else "investigate"


def performance_verdict(delta_pct: float | None) -> str:
    """Seed rules: IPv6 within +-5% of IPv4 is parity; slower is degradation, faster improvement."""
    if delta_pct is None:
        return "no_data"
    return "parity" if abs(delta_pct) <= 5 else "degradation" if delta_pct > 0 else "improvement"


def flow_verdicts(report: dict[str, Any], name: str = "flows report") -> dict[str, Any]:
    """Adoption from requests (ALB) when there are any, else from flows; latency from the ALB per-class means."""
    adoption = report.get("adoption")
    if not isinstance(adoption, dict) or "flows" not in adoption:
        raise MigrationInputError(f"{name}: not a 'v6ops flows report' JSON (no adoption section)")
    measure = "requests" if (report.get("summary") or {}).get("requests") else "flows"
    share = adoption[measure].get("ipv6_share")
    per_class = {c["traffic_class"]: c for c in (report.get("alb") or {}).get("per_class", [])}
    v4 = ((per_class.get("ipv4") or {}).get("latency_seconds") or {}).get("mean")
    v6 = ((per_class.get("ipv6") or {}).get("latency_seconds") or {}).get("mean")
    delta = round((v6 - v4) / v4 * 100, 3) if v4 and v6 is not None else None
    return {
        "adoption": {"measure": measure, "ipv6_share": share, "ipv6_percent": None if share is None else round(share * 100, 3),
                     "verdict": adoption_verdict(share)},
        "performance": {"ipv4_mean_seconds": v4, "ipv6_mean_seconds": v6, "delta_percent": delta,
                        "verdict": performance_verdict(delta)},
    }


def migration_plan(reports: list[dict[str, Any]], flows: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per-phase readiness from audit findings (and flow verdicts for the optimisation phase)."""
    totals: dict[str, int] = {}
    for r in reports:
        for scope in r.get("inputs", {}).get("scopes", []):
            for key, count in scope.get("resources", {}).items():
                totals[key] = totals.get(key, 0) + int(count)
    phases = []
    blocked_before = False
    for p in PHASES:
        found = [f for r in reports for f in r["findings"] if phase_of(f["check_id"]) == p["phase"]]
        severities = {f["severity"] for f in found}
        affected = {(f["account"], f["region"], f["resource_id"]) for f in found}
        total = sum(totals.get(k, 0) for k in p["resources"])
        readiness = round(100 * max(0, total - len(affected)) / total, 1) if total else None
        status = "blocked" if "HIGH" in severities else "in_progress" if found else "ready"
        entry: dict[str, Any] = {
            "phase": p["phase"], "months": p["months"], "goal": p["goal"], "status": status,
            "readiness_percent": readiness, "resources": total, "affected_resources": len(affected),
            "findings": {s: sum(1 for f in found if f["severity"] == s) for s in ("HIGH", "MEDIUM", "LOW")},
            "top_checks": sorted({f["check_id"] for f in found}),
            "can_start": not blocked_before,
        }
        if p["phase"] == "optimization" and flows is not None:
            entry["flows"] = flows
            if flows["adoption"]["verdict"] in ("investigate", "no_data") or flows["performance"]["verdict"] == "degradation":
                entry["status"] = "blocked" if status == "blocked" else "in_progress"
        blocked_before = blocked_before or entry["status"] == "blocked"
        phases.append(entry)
    current = next((p["phase"] for p in phases if p["status"] != "ready"), "done")
    return {"current_phase": current, "phases": phases, "reports": len(reports)}


# --- subnet planner ----------------------------------------------------------------------------

# /64 slots of the /56 per tier: [first, first + count). 256 slots in a /56 (RFC 6177 sizing).
DEFAULT_TIERS: dict[str, tuple[int, int]] = {"public": (0, 64), "private": (64, 64), "isolated": (128, 64), "spare": (192, 64)}
IPV6_SUBNET_LENGTH = 64
IPV4_SUBNET_LENGTH = 24
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


@dataclass(frozen=True)
class SubnetRequest:
    name: str
    tier: str
    index: int | None = None  # position inside the tier; None: the lowest free one
    az: int = 0  # index into the region's availability zones


@dataclass(frozen=True)
class PlannedSubnet:
    name: str
    tier: str
    index: int
    slot: int  # subnet number of the /64 inside the /56
    ipv6: str
    ipv4: str | None
    az: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tier": self.tier, "index": self.index, "slot": self.slot, "ipv6_cidr": self.ipv6,
                "ipv4_cidr": self.ipv4, "az": self.az}


def plan_subnets(vpc_ipv6: str, requests: list[SubnetRequest], existing: list[str] = (),  # type: ignore[assignment]
                 vpc_ipv4: str | None = None, tiers: dict[str, tuple[int, int]] | None = None) -> list[PlannedSubnet]:
    """Carve one /64 per request from the VPC's /56; ``existing`` /64s (and their slots) are never handed out."""
    tiers = tiers or DEFAULT_TIERS
    try:
        block = Prefix.parse(vpc_ipv6)
    except PrefixValueError as exc:
        raise MigrationInputError(f"VPC IPv6 CIDR: {exc}") from None
    if block.version != 6 or block.length != 56:
        raise MigrationInputError(f"VPC IPv6 CIDR {vpc_ipv6}: AWS VPCs get a /56; got /{block.length}")
    v4 = None
    if vpc_ipv4:
        try:
            v4 = Prefix.parse(vpc_ipv4)
        except PrefixValueError as exc:
            raise MigrationInputError(f"VPC IPv4 CIDR: {exc}") from None
        if v4.version != 4 or v4.length > IPV4_SUBNET_LENGTH:
            raise MigrationInputError(f"VPC IPv4 CIDR {vpc_ipv4}: an IPv4 prefix of /{IPV4_SUBNET_LENGTH} or shorter is needed")
    for tier, (first, count) in tiers.items():
        if first < 0 or count < 1 or first + count > 256:
            raise MigrationInputError(f"tier {tier}: slots {first}..{first + count - 1} are outside the /56's 0..255")
    used: dict[int, str] = {}
    for text in existing:
        try:
            p = Prefix.parse(text, strict=False)
        except PrefixValueError as exc:
            raise MigrationInputError(f"existing subnet {text!r}: {exc}") from None
        if p.version == 6 and block.overlaps(p):
            if p.length < IPV6_SUBNET_LENGTH:
                raise MigrationInputError(f"existing {text} covers more than one /64 of {block}")
            used[block.index_of(p.supernet(IPV6_SUBNET_LENGTH))] = f"existing {p}"
    names: set[str] = set()
    out = []
    for req in requests:
        if req.tier not in tiers:
            raise MigrationInputError(f"subnet {req.name}: unknown tier {req.tier!r}; tiers are {', '.join(tiers)}")
        if not NAME_RE.fullmatch(req.name):
            raise MigrationInputError(f"subnet name {req.name!r}: letters, digits, '-' and '_' only (it names resources)")
        keys = {req.name.replace("-", "_"), _logical(req.name)}  # the Terraform and CloudFormation names
        if keys & names:
            raise MigrationInputError(f"subnet {req.name}: the name (or its Terraform/CloudFormation form) is requested twice")
        names |= keys
        first, count = tiers[req.tier]
        if req.index is None:
            index = next((i for i in range(count) if first + i not in used), None)
            if index is None:
                raise MigrationInputError(f"subnet {req.name}: tier {req.tier} of {block} is full ({count} /64s in use)")
        else:
            index = req.index
            if not 0 <= index < count:
                raise MigrationInputError(f"subnet {req.name}: index {index} is outside tier {req.tier} (0..{count - 1})")
            if first + index in used:
                raise MigrationInputError(f"subnet {req.name}: {block.subnet(first + index, 64)} is already {used[first + index]}")
        slot = first + index
        used[slot] = f"planned for {req.name}"
        ipv4 = None
        if v4 is not None:
            if slot >= v4.count_subnets(IPV4_SUBNET_LENGTH):
                raise MigrationInputError(f"subnet {req.name}: slot {slot} has no /{IPV4_SUBNET_LENGTH} in {v4} "
                                          f"({v4.count_subnets(IPV4_SUBNET_LENGTH)} of them)")
            ipv4 = str(v4.subnet(slot, IPV4_SUBNET_LENGTH))
        out.append(PlannedSubnet(req.name, req.tier, index, slot, str(block.subnet(slot, IPV6_SUBNET_LENGTH)), ipv4, req.az))
    return out


def _logical(name: str) -> str:
    return "Subnet" + "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)


def cloudformation(subnets: list[PlannedSubnet], vpc_ipv6: str) -> str:
    """A template a person can read and diff: one AWS::EC2::Subnet per planned /64."""
    lines = [
        "# Generated by v6ops migrate subnets: /64s carved from " + vpc_ipv6 + " by tier and index (deterministic).",
        'AWSTemplateFormatVersion: "2010-09-09"',
        "Description: Dual-stack subnets planned by v6ops",
        "Parameters:",
        "  VpcId:",
        "    Type: AWS::EC2::VPC::Id",
        "    Description: The VPC that holds " + vpc_ipv6,
        "Resources:",
    ]
    for s in subnets:
        lines += [
            f"  {_logical(s.name)}:",
            "    Type: AWS::EC2::Subnet",
            "    Properties:",
            "      VpcId: !Ref VpcId",
            f"      AvailabilityZone: !Select [{s.az}, !GetAZs '']",
            f'      Ipv6CidrBlock: "{s.ipv6}"',
            *([f'      CidrBlock: "{s.ipv4}"'] if s.ipv4 else ["      Ipv6Native: true"]),
            "      AssignIpv6AddressOnCreation: true",
            *(["      EnableDns64: true"] if not s.ipv4 else []),
            "      Tags:",
            "        - Key: Name",
            f'          Value: "{s.name}"',
            "        - Key: Tier",
            f'          Value: "{s.tier}"',
        ]
    lines += ["Outputs:"]
    for s in subnets:
        lines += [f"  {_logical(s.name)}Id:", f"    Value: !Ref {_logical(s.name)}"]
    return "\n".join(lines) + "\n"


def terraform(subnets: list[PlannedSubnet], vpc_ipv6: str) -> str:
    """aws_subnet resources; the /64 is cidrsubnet(vpc /56, 8, slot), the same number the planner used."""
    lines = [f"# Generated by v6ops migrate subnets: /64s carved from {vpc_ipv6} by tier and index (deterministic).",
             'variable "vpc_id" {', "  type = string", "}", "",
             'data "aws_availability_zones" "available" {', '  state = "available"', "}", ""]
    for s in subnets:
        res = s.name.replace("-", "_")
        lines += [
            f'resource "aws_subnet" "{res}" {{',
            "  vpc_id                          = var.vpc_id",
            f'  ipv6_cidr_block                 = "{s.ipv6}" # cidrsubnet("{vpc_ipv6}", 8, {s.slot})',
            *([f'  cidr_block                      = "{s.ipv4}"'] if s.ipv4 else ["  ipv6_native                     = true",
                                                                             "  enable_dns64                    = true"]),
            "  assign_ipv6_address_on_creation = true",
            f"  availability_zone               = data.aws_availability_zones.available.names[{s.az}]",
            "  tags = {",
            f'    Name = "{s.name}"',
            f'    Tier = "{s.tier}"',
            "  }",
            "}",
            "",
        ]
    return "\n".join(lines)
