"""The AWS dual-stack posture checks, over the scopes ``aws_inputs`` reads.

Peers (Prowler, ScoutSuite, Checkov, AWS Config) treat ``::/0`` like ``0.0.0.0/0`` and stop there;
these checks add family parity, PMTUD, egress-only routing, DNS64/NAT64 wiring and load-balancer
readiness. Every world test parses the CIDR (``0:0:0:0:0:0:0:0/0`` is ``::/0``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from v6ops.addr import Prefix
from v6ops.audit.aws_inputs import AwsInputError, Scope
from v6ops.audit.findings import Check, Finding, Reference, aws_doc, catalogue, rfc
from v6ops.audit.rules import (
    ALL,
    ICMP,
    ICMPV6,
    TCP,
    UDP,
    Ranges,
    covers,
    is_world,
    merge,
    parse_cidr,
    protocol_name,
    protocol_number,
    ranges_text,
    subtract,
)

ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
DATABASE_PORTS = {1433: "SQL Server", 1521: "Oracle", 3306: "MySQL", 5432: "PostgreSQL", 6379: "Redis",
                  9042: "Cassandra", 9200: "Elasticsearch", 11211: "Memcached", 27017: "MongoDB"}
NAT64_PREFIX = Prefix.parse("64:ff9b::/96")  # RFC 6052 2.1 well-known prefix
TIER_TAGS = ("tier", "v6ops:tier", "type")


def _prowler(name: str) -> Reference:
    return Reference("Prowler", name)


def _cis(text: str) -> Reference:
    return Reference("CIS", text.removeprefix("CIS "))


VPC_IPV6_DOC = aws_doc("Migrate your VPC from IPv4 to IPv6", "vpc/latest/userguide/vpc-migrate-ipv6.html")
NACL_DOC = aws_doc("Control subnet traffic with network access control lists", "vpc/latest/userguide/vpc-network-acls.html")
SG_DOC = aws_doc("Security group rules", "vpc/latest/userguide/security-group-rules.html")
EIGW_DOC = aws_doc("Enable outbound IPv6 traffic using an egress-only internet gateway",
                   "vpc/latest/userguide/egress-only-internet-gateway.html")
DNS64_DOC = aws_doc("DNS64 and NAT64", "vpc/latest/userguide/nat-gateway-nat64-dns64.html")
ELB_DOC = aws_doc("IP address types for your Application Load Balancer",
                  "elasticloadbalancing/latest/application/application-load-balancers.html#ip-address-type")

CHECKS = catalogue([
    Check("aws.vpc.ipv6_cidr_missing", "VPC without an IPv6 CIDR block", "HIGH", "Configuration",
          "The VPC has no associated IPv6 CIDR block, so nothing in it can be reached over IPv6.",
          "Associate an Amazon-provided /56 (or a BYOIP/IPAM pool block) with the VPC.", (VPC_IPV6_DOC,)),
    Check("aws.vpc.flow_logs_missing", "VPC without flow logs", "HIGH", "Logging",
          "No active VPC-level flow log: IPv6 traffic (and IPv4) is not recorded for audit.",
          "Create a flow log on the VPC (traffic type ALL) to CloudWatch Logs or S3.",
          (aws_doc("VPC Flow Logs", "vpc/latest/userguide/flow-logs.html"), _prowler("vpc_flow_logs_enabled"),
           Reference("Checkov", "CKV2_AWS_11"), Reference("ScoutSuite", "vpc-subnet-without-flow-log"),
           Reference("AWS Config", "vpc-flow-logs-enabled"), _cis("CIS AWS Foundations 1.4.0 3.9"))),
    Check("aws.sg.ipv6_world_ingress", "Security group open to ::/0 on more than ICMPv6", "MEDIUM", "Security",
          "An ingress rule admits any IPv6 source (::/0) on a protocol other than ICMPv6.",
          "Restrict the IPv6 source to the prefixes that need access; keep ::/0 for ICMPv6 only.",
          (SG_DOC, _prowler("ec2_securitygroup_allow_ingress_from_internet_to_any_port"),
           Reference("AWS Config", "vpc-sg-open-only-to-authorized-ports"))),
    Check("aws.sg.icmpv6_missing", "Security group without ICMPv6 ingress", "LOW", "Configuration",
          "No ingress rule admits ICMPv6 from IPv6 sources: Packet Too Big never arrives and path MTU discovery "
          "fails (RFC 8201), neighbours cannot be diagnosed.",
          "Allow ICMPv6 at least for Packet Too Big (type 2), Destination Unreachable (1), Time Exceeded (3), "
          "Parameter Problem (4) from ::/0.",
          (rfc(4890, "4.3.1"), rfc(8201, "4"), SG_DOC)),
    Check("aws.sg.remote_admin_ipv4_world", "Remote administration (22, 3389) open to 0.0.0.0/0", "HIGH", "Security",
          "SSH or RDP is reachable from any IPv4 address.",
          "Remove the 0.0.0.0/0 rule; use Session Manager, a bastion or specific prefixes.",
          (_cis("CIS AWS Foundations 1.5.0-3.0.0 5.2 / 4.0.0-5.0.0 5.3 / 6.0.0 6.3"),
           _prowler("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22"),
           _prowler("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_3389"),
           Reference("Checkov", "CKV_AWS_24"), Reference("Checkov", "CKV_AWS_25"),
           Reference("ScoutSuite", "ec2-security-group-opens-known-port-to-all"), Reference("AWS Config", "restricted-ssh"))),
    Check("aws.sg.remote_admin_ipv6_world", "Remote administration (22, 3389) open to ::/0", "HIGH", "Security",
          "SSH or RDP is reachable from any IPv6 address (the CIS 'remote administration from ::/0' control).",
          "Remove the ::/0 rule; use Session Manager, a bastion or specific IPv6 prefixes.",
          (_cis("CIS AWS Foundations 1.5.0-3.0.0 5.3 / 4.0.0-5.0.0 5.4 / 6.0.0 6.4"),
           _prowler("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22"),
           _prowler("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_3389"),
           Reference("Checkov", "CKV_AWS_24"), Reference("Checkov", "CKV_AWS_25"))),
    Check("aws.sg.database_port_world", "Database port open to the internet", "HIGH", "Security",
          "A database port is reachable from 0.0.0.0/0 or ::/0.",
          "Allow database ports only from the application tier's security group or prefixes.",
          (_prowler("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_mysql_3306"),
           _prowler("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_postgres_5432"),
           Reference("AWS Config", "restricted-common-ports"),
           Reference("ScoutSuite", "ec2-security-group-opens-known-port-to-all"))),
    Check("aws.sg.ipv6_only_port", "Port open over IPv6 but not over IPv4", "HIGH", "Security",
          "The security group admits a port from IPv6 sources that it does not admit from IPv4: the IPv4 "
          "filtering is bypassed over IPv6 (the most common dual-stack mistake).",
          "Give every IPv6 rule its IPv4 twin with the same ports, or remove it.", (SG_DOC,)),
    Check("aws.sg.ipv4_only_port", "Port open over IPv4 but not over IPv6", "LOW", "Readiness",
          "The security group admits a port from IPv4 sources only: the service is unreachable over IPv6.",
          "Add the matching Ipv6Ranges rule for the same ports.", (SG_DOC, VPC_IPV6_DOC)),
    Check("aws.nacl.ipv4_deny_without_ipv6_twin", "NACL deny on IPv4 without its IPv6 twin", "HIGH", "Security",
          "A network ACL denies traffic for an IPv4 CIDR but has no deny for IPv6 on the same protocol and ports.",
          "Add the IPv6 deny entry (Ipv6CidrBlock) with the same protocol, ports and a lower rule number than any IPv6 allow.",
          (NACL_DOC,)),
    Check("aws.nacl.ipv6_only_allow", "NACL allows on IPv6 what it does not allow on IPv4", "MEDIUM", "Security",
          "A network ACL allow entry for IPv6 has no IPv4 allow on the same protocol and ports.",
          "Align the IPv4 and IPv6 entries of the ACL.", (NACL_DOC,)),
    Check("aws.nacl.icmpv6_ptb_blocked", "NACL blocks ICMPv6 Packet Too Big (PMTUD black hole)", "HIGH", "Reliability",
          "Inbound ICMPv6 type 2 from the internet is denied by the ACL: IPv6 routers never fragment, so large "
          "packets silently disappear (path MTU discovery black hole).",
          "Add an inbound allow for ICMPv6 (protocol 58) type 2 from ::/0 before any deny.",
          (rfc(8201, "4"), rfc(4890, "4.3.1"), NACL_DOC)),
    Check("aws.nacl.remote_admin_world", "NACL admits remote administration (22, 3389) from the world", "HIGH", "Security",
          "The ACL's first matching inbound entry for TCP 22 or 3389 from 0.0.0.0/0 or ::/0 allows it.",
          "Deny 22 and 3389 from 0.0.0.0/0 and ::/0 in the ACL, or allow only admin prefixes.",
          (_cis("CIS AWS Foundations 1.5.0-3.0.0 5.1 / 4.0.0-5.0.0 5.2 / 6.0.0 6.2 (IPv4)"),
           _prowler("ec2_networkacl_allow_ingress_tcp_port_22"), _prowler("ec2_networkacl_allow_ingress_tcp_port_3389"),
           Reference("AWS Config", "nacl-no-unrestricted-ssh-rdp"))),
    Check("aws.route.ipv6_default_missing", "Route table without an IPv6 default route", "MEDIUM", "Configuration",
          "A route table in an IPv6-enabled VPC has no active ::/0 route, and its tier is not marked isolated.",
          "Add ::/0 to an internet gateway (public tiers) or egress-only internet gateway (private tiers), or tag "
          "the route table or its subnets Tier=isolated.", (EIGW_DOC,)),
    Check("aws.route.private_tier_via_igw", "Private tier routes IPv6 to an internet gateway", "HIGH", "Security",
          "A private-tier route table sends ::/0 to an internet gateway: every IPv6 address in it is reachable from "
          "the internet (IPv6 has no NAT). Private tiers need an egress-only internet gateway.",
          "Replace the ::/0 target with an egress-only internet gateway (eigw-...).", (EIGW_DOC,)),
    Check("aws.elb.not_dualstack", "Load balancer is IPv4-only", "MEDIUM", "Readiness",
          "The load balancer's IpAddressType is ipv4: clients on IPv6 cannot reach it.",
          "Set the IP address type to dualstack (or dualstack-without-public-ipv4 for ALBs) after giving its subnets IPv6.",
          (ELB_DOC,)),
    Check("aws.elb.ipv4_target_group_behind_dualstack", "IPv4 target group behind a dual-stack ALB listener", "LOW",
          "Readiness",
          "A dual-stack ALB forwards to an IPv4 target group: IPv6 clients are translated to IPv4 at the ALB and the "
          "targets never see their addresses (X-Forwarded-For only).",
          "Create an IPv6 target group (IpAddressType ipv6) for the targets and switch the listener's forward action.",
          (ELB_DOC,)),
    Check("aws.subnet.ipv6_cidr_missing", "Subnet without an IPv6 CIDR", "MEDIUM", "Readiness",
          "The VPC has IPv6 but this subnet has no /64, so its instances get no IPv6 address.",
          "Associate a /64 from the VPC's /56 (v6ops migrate plan-subnets carves them deterministically).", (VPC_IPV6_DOC,)),
    Check("aws.subnet.ipv6_auto_assign_off", "Subnet does not auto-assign IPv6", "LOW", "Readiness",
          "The subnet has IPv6 but AssignIpv6AddressOnCreation is false: new instances come up IPv4-only.",
          "aws ec2 modify-subnet-attribute --assign-ipv6-address-on-creation.", (VPC_IPV6_DOC,)),
    Check("aws.subnet.ipv6_only_without_dns64", "IPv6-only subnet without DNS64", "MEDIUM", "Reliability",
          "An IPv6-only subnet routes to the internet but has DNS64 off: names with only A records get no AAAA, so "
          "IPv4-only destinations are unreachable even through NAT64.",
          "Enable DNS64 on the subnet and route 64:ff9b::/96 to a NAT gateway.",
          (rfc(6147, "5.1"), rfc(6146), DNS64_DOC)),
    Check("aws.subnet.dns64_without_nat64_route", "DNS64 on a subnet without a 64:ff9b::/96 route to a NAT gateway",
          "HIGH", "Reliability",
          "DNS64 synthesises 64:ff9b::/96 addresses for IPv4-only names, but the subnet's route table does not send "
          "them to a NAT gateway: connections to IPv4-only destinations hang.",
          "Add the route 64:ff9b::/96 -> nat-... to the subnet's route table.",
          (rfc(6052, "2.1"), rfc(6147), DNS64_DOC,
           Reference("GitHub issue", "terraform-aws-modules/terraform-aws-vpc#972",
                     "https://github.com/terraform-aws-modules/terraform-aws-vpc/issues/972"))),
    Check("aws.subnet.private_tier_public_ipv6", "Private tier hands out internet-reachable IPv6 by default", "HIGH",
          "Security",
          "A private-tier subnet auto-assigns IPv6 addresses and its route table sends ::/0 to an internet gateway: "
          "every new instance is reachable from the internet by default.",
          "Route ::/0 through an egress-only internet gateway, or stop auto-assigning IPv6.", (EIGW_DOC,)),
])


@dataclass
class _Index:
    scope: Scope
    vpcs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ipv6_vpcs: set[str] = field(default_factory=set)
    subnets: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnet_rt: dict[str, dict[str, Any]] = field(default_factory=dict)
    rt_subnets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    subnet_nacl: dict[str, str] = field(default_factory=dict)


def _tier(tags: Iterable[dict[str, Any]] | None) -> str | None:
    """The tier a Tier (or v6ops:tier, Type) tag names: public, private or isolated."""
    for tag in tags or ():
        if str(tag.get("Key", "")).lower() in TIER_TAGS:
            value = str(tag.get("Value", "")).lower()
            for tier in ("isolated", "private", "public"):
                if tier in value:
                    return tier
            if value in ("intra", "data", "database", "db"):
                return "isolated" if value == "intra" else "private"
    return None


def _has_ipv6(assocs: list[dict[str, Any]] | None, state_key: str) -> bool:
    return any((a.get(state_key) or {}).get("State", "associated") == "associated" and a.get("Ipv6CidrBlock")
               for a in assocs or ())


def _index(scope: Scope) -> _Index:
    ix = _Index(scope)
    for vpc in scope.items("Vpcs"):
        ix.vpcs[vpc["VpcId"]] = vpc
        if _has_ipv6(vpc.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlockState"):
            ix.ipv6_vpcs.add(vpc["VpcId"])
    main_rt: dict[str, dict[str, Any]] = {}
    for rt in scope.items("RouteTables"):
        ix.rt_subnets.setdefault(rt["RouteTableId"], [])
        for assoc in rt.get("Associations", ()):
            if assoc.get("Main"):
                main_rt[rt.get("VpcId", "")] = rt
            elif assoc.get("SubnetId"):
                ix.subnet_rt[assoc["SubnetId"]] = rt
    for subnet in scope.items("Subnets"):
        ix.subnets[subnet["SubnetId"]] = subnet
        table = ix.subnet_rt.get(subnet["SubnetId"]) or main_rt.get(subnet.get("VpcId", ""))
        if table is not None:
            ix.subnet_rt[subnet["SubnetId"]] = table
            ix.rt_subnets[table["RouteTableId"]].append(subnet)
    return ix


Emit = Callable[[str, str, str, str, dict[str, Any], str, str], None]


def _vpc_checks(ix: _Index, emit: Emit) -> None:
    active_logs = {f.get("ResourceId") for f in ix.scope.items("FlowLogs") if f.get("FlowLogStatus", "ACTIVE") == "ACTIVE"}
    for vpc_id, vpc in ix.vpcs.items():
        if vpc_id not in ix.ipv6_vpcs:
            emit("aws.vpc.ipv6_cidr_missing", vpc_id, "vpc", f"VPC {vpc_id} has no IPv6 CIDR block",
                 {"CidrBlock": vpc.get("CidrBlock"), "Ipv6CidrBlockAssociationSet": vpc.get("Ipv6CidrBlockAssociationSet", [])},
                 "", "Vpcs")
        if vpc_id not in active_logs:
            emit("aws.vpc.flow_logs_missing", vpc_id, "vpc", f"VPC {vpc_id} has no active flow log",
                 {"flow_logs_for_vpc": sorted(f.get("FlowLogId", "") for f in ix.scope.items("FlowLogs")
                                              if f.get("ResourceId") == vpc_id)}, "", "Vpcs")


@dataclass
class _Perm:
    protocol: int
    ports: tuple[int, int]  # tcp/udp ports, ICMP type range, or (0, 65535) for other protocols
    raw: dict[str, Any]
    v4: list[str]
    v6: list[str]
    world4: bool = False
    world6: bool = False

    def __post_init__(self) -> None:
        self.world4 = any(is_world(c) for c in self.v4)
        self.world6 = any(is_world(c) for c in self.v6)

    @property
    def text(self) -> str:
        return f"{protocol_name(self.protocol)}/{ranges_text([self.ports])}"


def _perms(sg: dict[str, Any], where: str) -> list[_Perm]:
    out = []
    for raw in sg.get("IpPermissions", ()):
        proto = protocol_number(raw.get("IpProtocol", "-1"), where)
        lo, hi = raw.get("FromPort"), raw.get("ToPort")
        if proto in (TCP, UDP) and lo is not None and hi is not None and lo >= 0:
            ports = (int(lo), int(hi))
        elif proto in (ICMP, ICMPV6) and lo is not None and lo >= 0:
            ports = (int(lo), int(lo))
        else:
            ports = (0, 65535)
        out.append(_Perm(proto, ports, raw, [r["CidrIp"] for r in raw.get("IpRanges", ()) if "CidrIp" in r],
                         [r["CidrIpv6"] for r in raw.get("Ipv6Ranges", ()) if "CidrIpv6" in r]))
    return out


def _open_ports(perms: list[_Perm], family: int, protocol: int, world_only: bool) -> Ranges:
    ranges = []
    for p in perms:
        if p.protocol != protocol and p.protocol != ALL:
            continue
        if (p.world4 if world_only else p.v4) if family == 4 else (p.world6 if world_only else p.v6):
            ranges.append(p.ports if p.protocol == protocol else (0, 65535))
    return merge(ranges)


def _sg_checks(ix: _Index, emit: Emit) -> None:
    for sg in ix.scope.items("SecurityGroups"):
        sg_id = sg["GroupId"]
        where = f"security group {sg_id} ({ix.scope.source.get('SecurityGroups')})"
        try:
            perms = _perms(sg, where)
        except ValueError as exc:
            raise AwsInputError(str(exc)) from None
        ipv6_vpc = sg.get("VpcId") in ix.ipv6_vpcs
        for p in perms:
            if not p.world6 or p.protocol == ICMPV6:
                continue
            world6 = [str(parse_cidr(c)) for c in p.v6 if is_world(c)]  # "::/0" however it was written
            if world6:
                emit("aws.sg.ipv6_world_ingress", sg_id, "security-group",
                     f"{sg_id} ({sg.get('GroupName')}) admits {p.text} from {world6[0]}",
                     {"rule": p.raw}, f"{p.text} {world6[0]}", "SecurityGroups")
        if ipv6_vpc and not any(p.protocol in (ICMPV6, ALL) and p.v6 for p in perms):
            emit("aws.sg.icmpv6_missing", sg_id, "security-group", f"{sg_id} ({sg.get('GroupName')}) admits no ICMPv6",
                 {"ingress_protocols": sorted({protocol_name(p.protocol) for p in perms})}, "", "SecurityGroups")
        for family, check_id in ((4, "aws.sg.remote_admin_ipv4_world"), (6, "aws.sg.remote_admin_ipv6_world")):
            if not any(p.world4 if family == 4 else p.world6 for p in perms):
                continue
            world = _open_ports(perms, family, TCP, world_only=True)
            for port, service in ADMIN_PORTS.items():
                if covers(world, port):
                    emit(check_id, sg_id, "security-group", f"{sg_id} admits {service} (tcp/{port}) from "
                         f"{'0.0.0.0/0' if family == 4 else '::/0'}", {"open_tcp_ports_from_world": ranges_text(world)},
                         f"tcp/{port}", "SecurityGroups")
            for port, service in DATABASE_PORTS.items():
                if covers(world, port):
                    emit("aws.sg.database_port_world", sg_id, "security-group",
                         f"{sg_id} admits {service} (tcp/{port}) from the IPv{family} internet",
                         {"family": family, "open_tcp_ports_from_world": ranges_text(world)}, f"tcp/{port} ipv{family}",
                         "SecurityGroups")
        if not ipv6_vpc:
            continue
        for proto in (TCP, UDP):
            v4, v6 = _open_ports(perms, 4, proto, False), _open_ports(perms, 6, proto, False)
            if only6 := subtract(v6, v4):
                emit("aws.sg.ipv6_only_port", sg_id, "security-group",
                     f"{sg_id} admits {protocol_name(proto)} {ranges_text(only6)} over IPv6 but not over IPv4",
                     {"protocol": protocol_name(proto), "ipv6_only_ports": ranges_text(only6),
                      "ipv4_ports": ranges_text(v4), "ipv6_ports": ranges_text(v6)}, protocol_name(proto), "SecurityGroups")
            if only4 := subtract(v4, v6):
                emit("aws.sg.ipv4_only_port", sg_id, "security-group",
                     f"{sg_id} admits {protocol_name(proto)} {ranges_text(only4)} over IPv4 but not over IPv6",
                     {"protocol": protocol_name(proto), "ipv4_only_ports": ranges_text(only4),
                      "ipv4_ports": ranges_text(v4), "ipv6_ports": ranges_text(v6)}, protocol_name(proto), "SecurityGroups")


@dataclass
class _Entry:
    number: int
    egress: bool
    protocol: int
    allow: bool
    family: int
    cidr: str
    ports: tuple[int, int]
    icmp: tuple[int, int]  # type, code (-1: any)
    raw: dict[str, Any]

    def matches(self, protocol: int, port: int, icmp_type: int = -1, icmp_code: int = 0) -> bool:
        if self.protocol == ALL:
            return True
        if self.protocol != protocol:
            return False
        if protocol in (TCP, UDP):
            return self.ports[0] <= port <= self.ports[1]
        if protocol in (ICMP, ICMPV6):
            return self.icmp[0] in (-1, icmp_type) and self.icmp[1] in (-1, icmp_code)
        return True

    def twin_of(self, other: _Entry) -> bool:
        """Same direction and protocol (or all protocols) with ports covering ``other``'s."""
        return (self.egress == other.egress and self.protocol in (other.protocol, ALL)
                and self.ports[0] <= other.ports[0] and other.ports[1] <= self.ports[1])


def _entries(nacl: dict[str, Any], where: str) -> list[_Entry]:
    out = []
    for raw in nacl.get("Entries", ()):
        cidr = raw.get("Ipv6CidrBlock") or raw.get("CidrBlock")
        if not cidr:
            continue
        try:
            family = parse_cidr(cidr).version
            proto = protocol_number(raw.get("Protocol", "-1"), where)
        except ValueError as exc:
            raise AwsInputError(f"{where}: rule {raw.get('RuleNumber')}: {exc}") from None
        pr = raw.get("PortRange") or {}
        ports = (int(pr.get("From", 0)), int(pr.get("To", 65535))) if proto in (TCP, UDP) and pr else (0, 65535)
        it = raw.get("IcmpTypeCode") or {}
        out.append(_Entry(int(raw.get("RuleNumber", 32767)), bool(raw.get("Egress")), proto,
                          raw.get("RuleAction") == "allow", family, cidr, ports,
                          (int(it.get("Type", -1)), int(it.get("Code", -1))), raw))
    return sorted(out, key=lambda e: (e.egress, e.family, e.number))


def _decide(entries: list[_Entry], family: int, egress: bool, protocol: int, port: int = 0, icmp_type: int = -1,
            icmp_code: int = 0) -> _Entry | None:
    """The first entry by rule number that a packet from any internet source meets (None: the implicit deny)."""
    for e in entries:
        if e.family == family and e.egress == egress and is_world(e.cidr) and e.matches(protocol, port, icmp_type, icmp_code):
            return e
    return None


def _nacl_checks(ix: _Index, emit: Emit) -> None:
    for nacl in ix.scope.items("NetworkAcls"):
        acl_id = nacl["NetworkAclId"]
        entries = _entries(nacl, f"network ACL {acl_id} ({ix.scope.source.get('NetworkAcls')})")
        for family in (4, 6):
            for port, service in ADMIN_PORTS.items():
                e = _decide(entries, family, False, TCP, port)
                if e is not None and e.allow:
                    emit("aws.nacl.remote_admin_world", acl_id, "network-acl",
                         f"{acl_id} admits {service} (tcp/{port}) from {e.cidr} (rule {e.number})",
                         {"entry": e.raw}, f"tcp/{port} ipv{family}", "NetworkAcls")
        if nacl.get("VpcId") not in ix.ipv6_vpcs:
            continue
        e = _decide(entries, 6, False, ICMPV6, icmp_type=2, icmp_code=0)
        if e is None or not e.allow:
            why = f"rule {e.number}" if e else "no IPv6 allow: implicit deny"
            emit("aws.nacl.icmpv6_ptb_blocked", acl_id, "network-acl", f"{acl_id} denies inbound ICMPv6 Packet Too Big ({why})",
                 {"deciding_entry": e.raw if e else None, "ipv6_entries": sum(1 for x in entries if x.family == 6)},
                 "ingress", "NetworkAcls")
        # ICMP and ICMPv6 have different jobs (ND, PMTUD): they are not each other's twins.
        user = [e for e in entries if e.number != 32767 and e.protocol not in (ICMP, ICMPV6)]
        for e in user:
            if e.family == 4 and not e.allow and not any(t.family == 6 and not t.allow and t.twin_of(e) for t in user):
                emit("aws.nacl.ipv4_deny_without_ipv6_twin", acl_id, "network-acl",
                     f"{acl_id} rule {e.number} denies {protocol_name(e.protocol)} {ranges_text([e.ports])} from {e.cidr} "
                     "with no IPv6 deny on the same ports", {"entry": e.raw},
                     f"{'egress' if e.egress else 'ingress'} {e.number}", "NetworkAcls")
            if e.family == 6 and e.allow and not any(t.family == 4 and t.allow and t.twin_of(e) for t in user):
                emit("aws.nacl.ipv6_only_allow", acl_id, "network-acl",
                     f"{acl_id} rule {e.number} allows {protocol_name(e.protocol)} {ranges_text([e.ports])} over IPv6 "
                     "with no IPv4 allow on the same ports", {"entry": e.raw},
                     f"{'egress' if e.egress else 'ingress'} {e.number}", "NetworkAcls")


def _active_routes(rt: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in rt.get("Routes", ()) if r.get("State", "active") == "active"]


def _ipv6_default(rt: dict[str, Any]) -> dict[str, Any] | None:
    for r in _active_routes(rt):
        if (dest := r.get("DestinationIpv6CidrBlock")) and is_world(dest):
            return r
    return None


def _nat64_route(rt: dict[str, Any]) -> dict[str, Any] | None:
    for r in _active_routes(rt):
        dest = r.get("DestinationIpv6CidrBlock")
        if dest and r.get("NatGatewayId") and parse_cidr(dest) == NAT64_PREFIX:
            return r
    return None


def _rt_tier(rt: dict[str, Any], subnets: list[dict[str, Any]]) -> str | None:
    if tier := _tier(rt.get("Tags")):
        return tier
    tiers = {_tier(s.get("Tags")) for s in subnets}
    if "private" in tiers:
        return "private"
    if tiers == {"isolated"}:
        return "isolated"
    return "public" if "public" in tiers else None


def _route_checks(ix: _Index, emit: Emit) -> None:
    for rt in ix.scope.items("RouteTables"):
        rt_id = rt["RouteTableId"]
        subnets = ix.rt_subnets.get(rt_id, [])
        if rt.get("VpcId") not in ix.ipv6_vpcs or not subnets:
            continue
        tier = _rt_tier(rt, subnets)
        default = _ipv6_default(rt)
        if default is None and tier != "isolated":
            emit("aws.route.ipv6_default_missing", rt_id, "route-table", f"{rt_id} has no IPv6 default route",
                 {"tier": tier, "subnets": [s["SubnetId"] for s in subnets],
                  "ipv6_routes": [r for r in rt.get("Routes", ()) if r.get("DestinationIpv6CidrBlock")]}, "", "RouteTables")
        if default is not None and tier == "private" and str(default.get("GatewayId", "")).startswith("igw-"):
            emit("aws.route.private_tier_via_igw", rt_id, "route-table",
                 f"{rt_id} (private tier) routes ::/0 to internet gateway {default['GatewayId']}",
                 {"route": default, "subnets": [s["SubnetId"] for s in subnets]}, "", "RouteTables")


def _subnet_checks(ix: _Index, emit: Emit) -> None:
    for subnet_id, s in ix.subnets.items():
        if s.get("VpcId") not in ix.ipv6_vpcs:
            continue
        rt = ix.subnet_rt.get(subnet_id) or {}
        has6 = _has_ipv6(s.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlockState")
        if not has6:
            emit("aws.subnet.ipv6_cidr_missing", subnet_id, "subnet", f"subnet {subnet_id} has no IPv6 CIDR",
                 {"CidrBlock": s.get("CidrBlock"), "VpcId": s.get("VpcId")}, "", "Subnets")
            continue
        if not s.get("AssignIpv6AddressOnCreation"):
            emit("aws.subnet.ipv6_auto_assign_off", subnet_id, "subnet", f"subnet {subnet_id} does not auto-assign IPv6",
                 {"AssignIpv6AddressOnCreation": s.get("AssignIpv6AddressOnCreation", False)}, "", "Subnets")
        default, nat64 = _ipv6_default(rt), _nat64_route(rt)
        if s.get("Ipv6Native") and not s.get("EnableDns64") and (default or nat64):
            emit("aws.subnet.ipv6_only_without_dns64", subnet_id, "subnet",
                 f"IPv6-only subnet {subnet_id} reaches the internet without DNS64",
                 {"Ipv6Native": True, "EnableDns64": s.get("EnableDns64", False), "route_table": rt.get("RouteTableId")},
                 "", "Subnets")
        if s.get("EnableDns64") and nat64 is None:
            emit("aws.subnet.dns64_without_nat64_route", subnet_id, "subnet",
                 f"subnet {subnet_id} has DNS64 on but {rt.get('RouteTableId', 'no route table')} has no 64:ff9b::/96 "
                 "route to a NAT gateway",
                 {"EnableDns64": True, "route_table": rt.get("RouteTableId"),
                  "ipv6_routes": [r for r in rt.get("Routes", ()) if r.get("DestinationIpv6CidrBlock")]}, "", "Subnets")
        tier = _tier(s.get("Tags")) or (_rt_tier(rt, [s]) if rt else None)
        if tier == "private" and s.get("AssignIpv6AddressOnCreation") and default is not None \
                and str(default.get("GatewayId", "")).startswith("igw-"):
            emit("aws.subnet.private_tier_public_ipv6", subnet_id, "subnet",
                 f"private subnet {subnet_id} auto-assigns IPv6 reachable through {default['GatewayId']}",
                 {"AssignIpv6AddressOnCreation": True, "route": default}, "", "Subnets")


def _forward_targets(listener: dict[str, Any]) -> list[str]:
    arns = []
    for action in listener.get("DefaultActions", ()):
        if action.get("Type") != "forward":
            continue
        if arn := action.get("TargetGroupArn"):
            arns.append(arn)
        arns += [t["TargetGroupArn"] for t in (action.get("ForwardConfig") or {}).get("TargetGroups", ()) if "TargetGroupArn" in t]
    return sorted(set(arns))


def _elb_checks(ix: _Index, emit: Emit) -> None:
    groups = {tg["TargetGroupArn"]: tg for tg in ix.scope.items("TargetGroups")}
    by_lb: dict[str, list[dict[str, Any]]] = {}
    for listener in ix.scope.items("Listeners"):
        by_lb.setdefault(listener.get("LoadBalancerArn", ""), []).append(listener)
    for lb in ix.scope.items("LoadBalancers"):
        arn, name = lb["LoadBalancerArn"], lb.get("LoadBalancerName", lb["LoadBalancerArn"])
        kind = lb.get("IpAddressType", "ipv4")
        if kind == "ipv4":
            emit("aws.elb.not_dualstack", arn, "load-balancer", f"load balancer {name} ({lb.get('Type')}) is IPv4-only",
                 {"IpAddressType": kind, "Type": lb.get("Type"), "Scheme": lb.get("Scheme")}, "", "LoadBalancers")
            continue
        if lb.get("Type") != "application":
            continue
        for listener in by_lb.get(arn, []):
            for tg_arn in _forward_targets(listener):
                tg = groups.get(tg_arn)
                if tg and tg.get("IpAddressType", "ipv4") == "ipv4" and tg.get("TargetType", "instance") in ("instance", "ip"):
                    emit("aws.elb.ipv4_target_group_behind_dualstack", tg_arn, "target-group",
                         f"{kind} ALB {name} listener {listener.get('Protocol')}:{listener.get('Port')} forwards to IPv4 "
                         f"target group {tg.get('TargetGroupName')}",
                         {"load_balancer": arn, "listener": listener.get("ListenerArn"), "IpAddressType": "ipv4"},
                         listener.get("ListenerArn", ""), "TargetGroups")


def audit_scopes(scopes: list[Scope]) -> list[Finding]:
    findings: list[Finding] = []
    for scope in scopes:
        def emit(check_id: str, resource_id: str, resource_type: str, message: str, evidence: dict[str, Any],
                 locator: str, key: str, scope: Scope = scope) -> None:
            findings.append(Finding(CHECKS[check_id], resource_id, resource_type, message, evidence, locator,
                                    scope.account, scope.region, scope.source.get(key, "")))
        ix = _index(scope)
        for run in (_vpc_checks, _sg_checks, _nacl_checks, _route_checks, _subnet_checks, _elb_checks):
            run(ix, emit)
    return findings
