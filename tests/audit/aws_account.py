"""A realistic dual-stack account in the AWS CLI's JSON shapes, clean against every check, and ways to spoil it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ACCOUNT = "111111111111"
REGION = "us-east-1"
VPC6 = "2600:1f18:aaaa:ab00::/56"


def _arn(kind: str, rid: str, service: str = "ec2", region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{kind}/{rid}"


def _subnet(sid: str, index: int, tier: str, native: bool = False, dns64: bool = False) -> dict[str, Any]:
    return {
        "SubnetId": sid, "VpcId": "vpc-0a1", "CidrBlock": f"10.0.{index}.0/24", "AvailabilityZone": "us-east-1a",
        "OwnerId": ACCOUNT, "SubnetArn": _arn("subnet", sid), "State": "available", "MapPublicIpOnLaunch": False,
        "AssignIpv6AddressOnCreation": True, "EnableDns64": dns64, "Ipv6Native": native,
        "Ipv6CidrBlockAssociationSet": [{"AssociationId": f"subnet-cidr-assoc-{index}",
                                         "Ipv6CidrBlock": f"2600:1f18:aaaa:ab{index:02x}::/64",
                                         "Ipv6CidrBlockState": {"State": "associated"}}],
        "Tags": [{"Key": "Tier", "Value": tier}],
    }


def _perm(proto: str, lo: int | None, hi: int | None, v4: list[str] = (), v6: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    p: dict[str, Any] = {"IpProtocol": proto, "IpRanges": [{"CidrIp": c} for c in v4],
                         "Ipv6Ranges": [{"CidrIpv6": c} for c in v6], "PrefixListIds": [], "UserIdGroupPairs": []}
    if lo is not None:
        p["FromPort"], p["ToPort"] = lo, hi
    return p


def _acl_entry(n: int, proto: str, action: str, cidr: str, egress: bool = False, ports: tuple[int, int] | None = None,
               icmp: tuple[int, int] | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"RuleNumber": n, "Protocol": proto, "RuleAction": action, "Egress": egress,
                         ("Ipv6CidrBlock" if ":" in cidr else "CidrBlock"): cidr}
    if ports:
        e["PortRange"] = {"From": ports[0], "To": ports[1]}
    if icmp:
        e["IcmpTypeCode"] = {"Type": icmp[0], "Code": icmp[1]}
    return e


def good_account() -> dict[str, dict[str, Any]]:
    """File name -> document; the names are deliberately not the command names."""
    icmp6 = _perm("icmpv6", -1, -1, v6=["::/0"])
    acl_entries = []
    for egress in (False, True):
        if not egress:
            acl_entries += [_acl_entry(50, "6", "deny", "0.0.0.0/0", ports=(22, 22)), _acl_entry(51, "6", "deny", "::/0", ports=(22, 22)),
                            _acl_entry(52, "6", "deny", "0.0.0.0/0", ports=(3389, 3389)),
                            _acl_entry(53, "6", "deny", "::/0", ports=(3389, 3389))]
        acl_entries += [_acl_entry(100, "-1", "allow", "0.0.0.0/0", egress), _acl_entry(101, "-1", "allow", "::/0", egress),
                        _acl_entry(32767, "-1", "deny", "0.0.0.0/0", egress), _acl_entry(32767, "-1", "deny", "::/0", egress)]
    alb = _arn("loadbalancer", "app/web/50dc6c495c0c9188", "elasticloadbalancing")
    tg = _arn("targetgroup", "web6/73e2d6bc24d8a067", "elasticloadbalancing")
    return {
        "a.json": {"Vpcs": [{"VpcId": "vpc-0a1", "OwnerId": ACCOUNT, "CidrBlock": "10.0.0.0/16", "State": "available",
                             "IsDefault": False, "CidrBlockAssociationSet": [{"CidrBlock": "10.0.0.0/16"}],
                             "Ipv6CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-1", "Ipv6CidrBlock": VPC6,
                                                              "Ipv6CidrBlockState": {"State": "associated"},
                                                              "NetworkBorderGroup": REGION, "Ipv6Pool": "Amazon"}]}]},
        "b.json": {"Subnets": [_subnet("subnet-pub", 1, "public"), _subnet("subnet-priv", 2, "private"),
                               _subnet("subnet-iso", 3, "isolated"), _subnet("subnet-v6", 4, "private", native=True, dns64=True)]},
        "c.json": {"SecurityGroups": [
            {"GroupId": "sg-web", "GroupName": "web", "VpcId": "vpc-0a1", "OwnerId": ACCOUNT, "Description": "web",
             "IpPermissions": [_perm("tcp", 443, 443, ["198.51.100.0/24"], ["2001:db8:100::/48"]), icmp6],
             "IpPermissionsEgress": [_perm("-1", None, None, ["0.0.0.0/0"], ["::/0"])]},
            {"GroupId": "sg-db", "GroupName": "db", "VpcId": "vpc-0a1", "OwnerId": ACCOUNT, "Description": "db",
             "IpPermissions": [_perm("tcp", 5432, 5432, ["10.0.0.0/16"], [VPC6]), _perm("58", 2, -1, v6=["::/0"])],
             "IpPermissionsEgress": []},
        ]},
        "d.json": {"RouteTables": [
            {"RouteTableId": "rtb-pub", "VpcId": "vpc-0a1", "OwnerId": ACCOUNT,
             "Associations": [{"Main": False, "SubnetId": "subnet-pub", "RouteTableId": "rtb-pub"}],
             "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                        {"DestinationIpv6CidrBlock": VPC6, "GatewayId": "local", "State": "active"},
                        {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"},
                        {"DestinationIpv6CidrBlock": "::/0", "GatewayId": "igw-1", "State": "active"}], "Tags": []},
            {"RouteTableId": "rtb-priv", "VpcId": "vpc-0a1", "OwnerId": ACCOUNT,
             "Associations": [{"Main": False, "SubnetId": "subnet-priv"}, {"Main": False, "SubnetId": "subnet-v6"}],
             "Routes": [{"DestinationIpv6CidrBlock": VPC6, "GatewayId": "local", "State": "active"},
                        {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"},
                        {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1", "State": "active"},
                        {"DestinationIpv6CidrBlock": "64:ff9b::/96", "NatGatewayId": "nat-1", "State": "active"}], "Tags": []},
            {"RouteTableId": "rtb-iso", "VpcId": "vpc-0a1", "OwnerId": ACCOUNT,
             "Associations": [{"Main": False, "SubnetId": "subnet-iso"}],
             "Routes": [{"DestinationIpv6CidrBlock": VPC6, "GatewayId": "local", "State": "active"}],
             "Tags": [{"Key": "Tier", "Value": "isolated"}]},
            {"RouteTableId": "rtb-main", "VpcId": "vpc-0a1", "OwnerId": ACCOUNT, "Associations": [{"Main": True}],
             "Routes": [{"DestinationIpv6CidrBlock": VPC6, "GatewayId": "local", "State": "active"}], "Tags": []},
        ]},
        "e.json": {"NetworkAcls": [{"NetworkAclId": "acl-1", "VpcId": "vpc-0a1", "OwnerId": ACCOUNT, "IsDefault": True,
                                    "Entries": acl_entries,
                                    "Associations": [{"NetworkAclId": "acl-1", "SubnetId": s}
                                                     for s in ("subnet-pub", "subnet-priv", "subnet-iso", "subnet-v6")]}]},
        "f.json": {"FlowLogs": [{"FlowLogId": "fl-1", "ResourceId": "vpc-0a1", "TrafficType": "ALL", "FlowLogStatus": "ACTIVE",
                                 "LogDestinationType": "s3", "CreationTime": "2026-01-01T00:00:00+00:00"}]},
        "g.json": {"InternetGateways": [{"InternetGatewayId": "igw-1", "OwnerId": ACCOUNT,
                                         "Attachments": [{"VpcId": "vpc-0a1", "State": "available"}]}]},
        "h.json": {"EgressOnlyInternetGateways": [{"EgressOnlyInternetGatewayId": "eigw-1",
                                                   "Attachments": [{"VpcId": "vpc-0a1", "State": "attached"}]}]},
        "i.json": {"NatGateways": [{"NatGatewayId": "nat-1", "VpcId": "vpc-0a1", "SubnetId": "subnet-pub", "State": "available",
                                    "ConnectivityType": "public"}]},
        "j.json": {"LoadBalancers": [{"LoadBalancerArn": alb, "LoadBalancerName": "web", "Type": "application",
                                      "Scheme": "internet-facing", "VpcId": "vpc-0a1", "IpAddressType": "dualstack",
                                      "State": {"Code": "active"}, "AvailabilityZones": [{"ZoneName": "us-east-1a", "SubnetId": "subnet-pub"}]}]},
        "k.json": {"TargetGroups": [{"TargetGroupArn": tg, "TargetGroupName": "web6", "Protocol": "HTTP", "Port": 80,
                                     "VpcId": "vpc-0a1", "TargetType": "ip", "IpAddressType": "ipv6", "LoadBalancerArns": [alb]}]},
        "l.json": {"Listeners": [{"ListenerArn": _arn("listener", "app/web/50dc6c495c0c9188/f2f7dc8efc522ab2", "elasticloadbalancing"),
                                  "LoadBalancerArn": alb, "Port": 443, "Protocol": "HTTPS",
                                  "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]}]},
    }


def write(files: dict[str, dict[str, Any]], root: Path, sub: str = "") -> Path:
    base = root / sub if sub else root
    base.mkdir(parents=True, exist_ok=True)
    for name, doc in files.items():
        (base / name).write_text(json.dumps(doc, indent=2))
    return root


def find(files: dict[str, dict[str, Any]], key: str, rid: str) -> dict[str, Any]:
    for doc in files.values():
        for item in doc.get(key, []):
            if rid in item.values():
                return item
    raise KeyError(rid)


def spoiled(change: Any) -> dict[str, dict[str, Any]]:
    files = copy.deepcopy(good_account())
    change(files)
    return files
