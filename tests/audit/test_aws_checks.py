"""Every AWS check: the clean account has no finding, each planted problem raises exactly its checks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.audit.aws_account import VPC6, _acl_entry, _perm, find, good_account, spoiled, write
from v6ops.audit import aws_report_from_directory
from v6ops.audit.aws_checks import CHECKS

Files = dict[str, dict[str, Any]]


def audit(files: Files, tmp_path: Path) -> dict[str, Any]:
    return aws_report_from_directory(write(files, tmp_path, "111111111111/us-east-1"))


def ids(report: dict[str, Any]) -> Counter[str]:
    return Counter(f["check_id"] for f in report["findings"])


def test_clean_account_has_no_finding(tmp_path: Path) -> None:
    report = audit(good_account(), tmp_path)
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
    assert report["compliance_status"] == "COMPLIANT"
    assert report["inputs"]["scopes"] == [{"account": "111111111111", "region": "us-east-1", "resources": {
        "EgressOnlyInternetGateways": 1, "FlowLogs": 1, "InternetGateways": 1, "Listeners": 1, "LoadBalancers": 1,
        "NatGateways": 1, "NetworkAcls": 1, "RouteTables": 4, "SecurityGroups": 2, "Subnets": 4, "TargetGroups": 1, "Vpcs": 1}}]


def sg(files: Files, gid: str) -> dict[str, Any]:
    return find(files, "SecurityGroups", gid)


def acl(files: Files) -> list[dict[str, Any]]:
    return find(files, "NetworkAcls", "acl-1")["Entries"]


def routes(files: Files, rtb: str) -> list[dict[str, Any]]:
    return find(files, "RouteTables", rtb)["Routes"]


def drop_route(files: Files, rtb: str, dest: str) -> None:
    find(files, "RouteTables", rtb)["Routes"] = [r for r in routes(files, rtb) if r.get("DestinationIpv6CidrBlock") != dest]


def set_field(key: str, rid: str, field: str, value: Any) -> Callable[[Files], None]:
    return lambda files: find(files, key, rid).__setitem__(field, value)


def drop_acl(numbers: set[tuple[int, str]]) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        entry = find(files, "NetworkAcls", "acl-1")
        entry["Entries"] = [e for e in entry["Entries"] if (e["RuleNumber"], e.get("CidrBlock") or e.get("Ipv6CidrBlock")) not in numbers]
    return change


LB = "LoadBalancers"
CASES: list[tuple[str, Callable[[Files], None], dict[str, int]]] = [
    ("vpc without ipv6", set_field("Vpcs", "vpc-0a1", "Ipv6CidrBlockAssociationSet", []), {"aws.vpc.ipv6_cidr_missing": 1}),
    ("vpc ipv6 disassociated", set_field("Vpcs", "vpc-0a1", "Ipv6CidrBlockAssociationSet",
                                         [{"Ipv6CidrBlock": VPC6, "Ipv6CidrBlockState": {"State": "disassociated"}}]),
     {"aws.vpc.ipv6_cidr_missing": 1}),
    ("no flow logs", lambda f: f["f.json"].__setitem__("FlowLogs", []), {"aws.vpc.flow_logs_missing": 1}),
    ("flow log on another vpc", set_field("FlowLogs", "fl-1", "ResourceId", "vpc-other"), {"aws.vpc.flow_logs_missing": 1}),
    ("sg open to ::/0", lambda f: sg(f, "sg-web")["IpPermissions"].append(_perm("tcp", 8443, 8443, ["0.0.0.0/0"], ["::/0"])),
     {"aws.sg.ipv6_world_ingress": 1}),
    ("sg open to expanded ::/0", lambda f: sg(f, "sg-web")["IpPermissions"].append(
        _perm("tcp", 8443, 8443, ["0.0.0.0/0"], ["0:0:0:0:0:0:0:0/0"])), {"aws.sg.ipv6_world_ingress": 1}),
    ("sg without icmpv6", lambda f: sg(f, "sg-web")["IpPermissions"].pop(), {"aws.sg.icmpv6_missing": 1}),
    ("ssh from 0.0.0.0/0", lambda f: sg(f, "sg-web")["IpPermissions"].append(_perm("tcp", 22, 22, ["0.0.0.0/0"])),
     {"aws.sg.remote_admin_ipv4_world": 1, "aws.sg.ipv4_only_port": 1}),
    ("rdp from expanded ::/0", lambda f: sg(f, "sg-web")["IpPermissions"].append(_perm("6", 3389, 3389, v6=["0:0:0:0:0:0:0:0/0"])),
     {"aws.sg.remote_admin_ipv6_world": 1, "aws.sg.ipv6_world_ingress": 1, "aws.sg.ipv6_only_port": 1}),
    ("all traffic from ::/0", lambda f: sg(f, "sg-web")["IpPermissions"].append(_perm("-1", None, None, v6=["::/0"])),
     {"aws.sg.remote_admin_ipv6_world": 2, "aws.sg.database_port_world": 9, "aws.sg.ipv6_world_ingress": 1,
      "aws.sg.ipv6_only_port": 2}),
    ("postgres to the world", lambda f: sg(f, "sg-db")["IpPermissions"].__setitem__(0, _perm("tcp", 5432, 5432, ["0.0.0.0/0"], ["::/0"])),
     {"aws.sg.database_port_world": 2, "aws.sg.ipv6_world_ingress": 1}),
    ("planted ipv6-only port", lambda f: sg(f, "sg-db")["IpPermissions"].append(_perm("tcp", 6000, 6010, v6=[VPC6])),
     {"aws.sg.ipv6_only_port": 1}),
    ("ipv4-only port", lambda f: sg(f, "sg-db")["IpPermissions"].append(_perm("udp", 53, 53, ["10.0.0.0/16"])),
     {"aws.sg.ipv4_only_port": 1}),
    ("nacl ipv4 deny without twin", lambda f: acl(f).append(_acl_entry(60, "6", "deny", "203.0.113.0/24", ports=(8080, 8080))),
     {"aws.nacl.ipv4_deny_without_ipv6_twin": 1}),
    ("nacl allows all on ipv6 only", drop_acl({(100, "0.0.0.0/0")}), {"aws.nacl.ipv6_only_allow": 2}),
    ("nacl denies icmpv6", lambda f: acl(f).append(_acl_entry(40, "58", "deny", "::/0")), {"aws.nacl.icmpv6_ptb_blocked": 1}),
    ("nacl denies exactly packet-too-big", lambda f: acl(f).append(_acl_entry(40, "58", "deny", "::/0", icmp=(2, 0))),
     {"aws.nacl.icmpv6_ptb_blocked": 1}),
    ("default nacl without ipv6 entries", drop_acl({(51, "::/0"), (53, "::/0"), (101, "::/0"), (32767, "::/0")}),
     {"aws.nacl.icmpv6_ptb_blocked": 1, "aws.nacl.ipv4_deny_without_ipv6_twin": 2}),
    ("nacl admits ssh and rdp", drop_acl({(50, "0.0.0.0/0"), (51, "::/0"), (52, "0.0.0.0/0"), (53, "::/0")}),
     {"aws.nacl.remote_admin_world": 4}),
    ("route table without ::/0", lambda f: drop_route(f, "rtb-priv", "::/0"), {"aws.route.ipv6_default_missing": 1}),
    ("::/0 route blackholed", lambda f: [r.__setitem__("State", "blackhole") for r in routes(f, "rtb-pub")
                                         if r.get("DestinationIpv6CidrBlock") == "::/0"], {"aws.route.ipv6_default_missing": 1}),
    ("private tier through igw", lambda f: [r.update(GatewayId="igw-1") or r.pop("EgressOnlyInternetGatewayId") for r in routes(f, "rtb-priv")
                                           if r.get("DestinationIpv6CidrBlock") == "::/0"],
     {"aws.route.private_tier_via_igw": 1, "aws.subnet.private_tier_public_ipv6": 2}),
    ("ipv4-only alb", set_field(LB, "web", "IpAddressType", "ipv4"), {"aws.elb.not_dualstack": 1}),
    ("ipv4 target group behind dualstack", set_field("TargetGroups", "web6", "IpAddressType", "ipv4"),
     {"aws.elb.ipv4_target_group_behind_dualstack": 1}),
    ("subnet without ipv6", set_field("Subnets", "subnet-pub", "Ipv6CidrBlockAssociationSet", []), {"aws.subnet.ipv6_cidr_missing": 1}),
    ("subnet without auto-assign", set_field("Subnets", "subnet-pub", "AssignIpv6AddressOnCreation", False),
     {"aws.subnet.ipv6_auto_assign_off": 1}),
    ("ipv6-only subnet without dns64", set_field("Subnets", "subnet-v6", "EnableDns64", False),
     {"aws.subnet.ipv6_only_without_dns64": 1}),
    ("dns64 without nat64 route", lambda f: drop_route(f, "rtb-priv", "64:ff9b::/96"), {"aws.subnet.dns64_without_nat64_route": 1}),
    ("dns64 with 64:ff9b::/96 to the igw", lambda f: [r.update(GatewayId="igw-1") or r.pop("NatGatewayId") for r in routes(f, "rtb-priv")
                                                     if r.get("DestinationIpv6CidrBlock") == "64:ff9b::/96"],
     {"aws.subnet.dns64_without_nat64_route": 1}),
]

NEGATIVES: list[tuple[str, Callable[[Files], None]]] = [
    ("icmpv6 (by number) from ::/0 is not 'open to the world'",
     lambda f: sg(f, "sg-web")["IpPermissions"].append(_perm("58", -1, -1, v6=["0:0:0:0:0:0:0:0/0"]))),
    ("ssh from a prefix only", lambda f: sg(f, "sg-web")["IpPermissions"].append(_perm("tcp", 22, 22, ["192.0.2.0/24"], ["2001:db8::/32"]))),
    ("nacl deny with its ipv6 twin", lambda f: acl(f).extend([_acl_entry(60, "6", "deny", "203.0.113.0/24", ports=(8080, 8080)),
                                                              _acl_entry(61, "6", "deny", "2001:db8::/32", ports=(8000, 8100))])),
    ("nacl ipv6 allow covered by the ipv4 allow-all", lambda f: acl(f).append(_acl_entry(90, "6", "allow", "::/0", ports=(9000, 9000)))),
    ("nacl allow on both families", lambda f: acl(f).extend([_acl_entry(90, "6", "allow", "::/0", ports=(9000, 9000)),
                                                             _acl_entry(91, "6", "allow", "0.0.0.0/0", ports=(9000, 9000))])),
    ("packet-too-big allowed before an icmpv6 deny", lambda f: acl(f).extend([_acl_entry(39, "58", "allow", "::/0", icmp=(2, 0)),
                                                                             _acl_entry(40, "58", "deny", "::/0")])),
    ("isolated tier needs no default route", lambda f: drop_route(f, "rtb-iso", "::/0")),
    ("isolated tier by subnet tag", lambda f: find(f, "RouteTables", "rtb-iso").__setitem__("Tags", [])),
    ("dualstack-without-public-ipv4 is dual-stack", set_field(LB, "web", "IpAddressType", "dualstack-without-public-ipv4")),
    ("nat64 route in expanded form", lambda f: [r.__setitem__("DestinationIpv6CidrBlock", "64:ff9b:0:0:0:0:0:0/96")
                                               for r in routes(f, "rtb-priv") if r.get("DestinationIpv6CidrBlock") == "64:ff9b::/96"]),
    ("ipv4 target group behind a lambda target type is fine", lambda f: find(f, "TargetGroups", "web6").update(
        IpAddressType="ipv4", TargetType="lambda")),
    ("flow log on the vpc (no status field)", lambda f: find(f, "FlowLogs", "fl-1").pop("FlowLogStatus")),
]


@pytest.mark.parametrize(("name", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_planted_problem_raises_its_checks(name: str, change: Callable[[Files], None], expected: dict[str, int], tmp_path: Path) -> None:
    report = audit(spoiled(change), tmp_path)
    assert dict(ids(report)) == expected, [f["message"] for f in report["findings"]]


@pytest.mark.parametrize(("name", "change"), NEGATIVES, ids=[c[0] for c in NEGATIVES])
def test_negative_variant_stays_clean(name: str, change: Callable[[Files], None], tmp_path: Path) -> None:
    report = audit(spoiled(change), tmp_path)
    assert report["findings"] == [], [f["message"] for f in report["findings"]]


def test_every_check_has_a_positive_case() -> None:
    covered = {c for _, _, expected in CASES for c in expected}
    assert covered == set(CHECKS)


def test_finding_fields(tmp_path: Path) -> None:
    report = audit(spoiled(lambda f: sg(f, "sg-web")["IpPermissions"].append(_perm("tcp", 22, 22, v6=["::/0"]))), tmp_path)
    f = next(x for x in report["findings"] if x["check_id"] == "aws.sg.remote_admin_ipv6_world")
    assert f["severity"] == "HIGH" and f["category"] == "Security" and f["resource_id"] == "sg-web"
    assert f["account"] == "111111111111" and f["region"] == "us-east-1" and f["source"] == "111111111111/us-east-1/c.json"
    assert "CIS AWS Foundations 1.5.0-3.0.0 5.3 / 4.0.0-5.0.0 5.4 / 6.0.0 6.4" in f["references"]
    assert "Prowler ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22" in f["references"] and f["remediation"]
    assert {"source": "Checkov", "id": "CKV_AWS_24"} in report["checks"]["aws.sg.remote_admin_ipv6_world"]["references"]
    assert report["compliance_status"] == "NON_COMPLIANT"
