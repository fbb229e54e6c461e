"""AWS inventory: a directory of AWS CLI JSON (any file names, several accounts and regions) or live boto3.

Each file is recognised by the top-level key the AWS CLI prints for its command (``Vpcs`` for
``ec2 describe-vpcs`` ...), whatever it is called. A file's account and region come from the
directories above it (a 12-digit account id, a region name) or, failing that, from the ARNs and
owner ids inside the files of its directory; the two must agree.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# top-level key -> (command, id field): the shapes of botocore's ec2 2016-11-15 and elbv2 2015-12-01 models.
COMMANDS: dict[str, tuple[str, str]] = {
    "Vpcs": ("ec2 describe-vpcs", "VpcId"),
    "Subnets": ("ec2 describe-subnets", "SubnetId"),
    "SecurityGroups": ("ec2 describe-security-groups", "GroupId"),
    "RouteTables": ("ec2 describe-route-tables", "RouteTableId"),
    "NetworkAcls": ("ec2 describe-network-acls", "NetworkAclId"),
    "FlowLogs": ("ec2 describe-flow-logs", "FlowLogId"),
    "EgressOnlyInternetGateways": ("ec2 describe-egress-only-internet-gateways", "EgressOnlyInternetGatewayId"),
    "InternetGateways": ("ec2 describe-internet-gateways", "InternetGatewayId"),
    "NatGateways": ("ec2 describe-nat-gateways", "NatGatewayId"),
    "LoadBalancers": ("elbv2 describe-load-balancers", "LoadBalancerArn"),
    "TargetGroups": ("elbv2 describe-target-groups", "TargetGroupArn"),
    "Listeners": ("elbv2 describe-listeners", "ListenerArn"),
}
# Keys of commands people export next to these, so the error can say which command a file came from.
OTHER_COMMANDS = {
    "Reservations": "ec2 describe-instances",
    "LoadBalancerDescriptions": "elb describe-load-balancers (Classic Load Balancer)",
    "SecurityGroupRules": "ec2 describe-security-group-rules",
    "Addresses": "ec2 describe-addresses",
    "NetworkInterfaces": "ec2 describe-network-interfaces",
    "TargetHealthDescriptions": "elbv2 describe-target-health",
    "Rules": "elbv2 describe-rules",
    "TagDescriptions": "elbv2 describe-tags",
    "Tags": "ec2 describe-tags",
    "PrefixLists": "ec2 describe-prefix-lists",
    "VpcEndpoints": "ec2 describe-vpc-endpoints",
    "TransitGateways": "ec2 describe-transit-gateways",
    "Regions": "ec2 describe-regions",
}
PAGING_KEYS = {"NextToken", "NextMarker", "ResponseMetadata"}
ACCOUNT_RE = re.compile(r"^\d{12}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
ARN_FIELD = {"Subnets": "SubnetArn", "LoadBalancers": "LoadBalancerArn", "TargetGroups": "TargetGroupArn",
             "Listeners": "ListenerArn"}


class AwsInputError(ValueError):
    """An input file or option the audit cannot use; the message names it and the problem."""


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore's endpoint data names, in every partition."""
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("ec2", partition_name=partition, allow_non_regional=False))
    return frozenset(regions)


def check_region(region: str, where: str) -> str:
    if region not in known_regions():
        raise AwsInputError(f"{where}: unknown region {region!r} (not an EC2 region in botocore's endpoint data)")
    return region


@dataclass
class Scope:
    """One account in one region: the resources the checks see together."""

    account: str
    region: str
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # top-level key -> file it came from (or "live")

    def items(self, key: str) -> list[dict[str, Any]]:
        return self.data.get(key, [])

    def add(self, key: str, items: list[dict[str, Any]], source: str) -> None:
        have = self.data.setdefault(key, [])
        if have:  # paged exports: merge, an id twice with different content is an error
            id_field = COMMANDS[key][1]
            seen = {item.get(id_field): item for item in have}
            for item in items:
                old = seen.get(item.get(id_field))
                if old is None:
                    have.append(item)
                elif old != item:
                    raise AwsInputError(f"{source}: {item.get(id_field)} also in {self.source[key]} with different content")
            self.source[key] = f"{self.source[key]}, {source}"
        else:
            have.extend(items)
            self.source[key] = source


def _key_of(path: str, doc: Any) -> str:
    if not isinstance(doc, dict):
        raise AwsInputError(f"{path}: top level is a JSON {type(doc).__name__}, not the object the AWS CLI prints")
    keys = [k for k in doc if k not in PAGING_KEYS]
    known = [k for k in keys if k in COMMANDS]
    if len(known) == 1 and len(keys) == 1:
        if not isinstance(doc[known[0]], list):
            raise AwsInputError(f"{path}: {known[0]} is not a list ({COMMANDS[known[0]][0]} prints a list)")
        return known[0]
    for k in keys:
        if k in OTHER_COMMANDS:
            raise AwsInputError(f"{path}: output of {OTHER_COMMANDS[k]} (top-level key {k!r}), not a command the audit reads; "
                                f"expected one of {', '.join(COMMANDS)}")
    raise AwsInputError(f"{path}: top-level keys {keys} are not the output of a command the audit reads; "
                        f"expected exactly one of {', '.join(COMMANDS)}")


def _read(path: Path) -> tuple[str, list[dict[str, Any]]]:
    data = b""
    try:
        data = path.read_bytes()
        doc = orjson.loads(data)  # the same objects as json.loads, about 1.5x faster (benchmarks/audit_aws_org.py)
    except json.JSONDecodeError as exc:
        # Cut short: the parser ran off the end, or a string never closes.
        ended = exc.pos >= len(data.rstrip()) or exc.msg.startswith("Unterminated string")
        truncated = " (truncated?)" if ended else ""
        raise AwsInputError(f"{path}: not valid JSON{truncated}: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise AwsInputError(f"{path}: not UTF-8 JSON: {exc}") from None
    except OSError as exc:
        raise AwsInputError(f"{path}: cannot read: {exc.strerror}") from None
    key = _key_of(str(path), doc)
    items = doc[key]
    for item in items:
        if not isinstance(item, dict):
            raise AwsInputError(f"{path}: an element of {key} is a {type(item).__name__}, not an object")
    return key, items


def _arn_parts(arn: str) -> tuple[str, str] | None:
    parts = arn.split(":", 5)
    return (parts[3], parts[4]) if len(parts) == 6 and parts[0] == "arn" else None


def _content_scope(key: str, items: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """Regions and accounts the resources name (ARNs, OwnerId)."""
    accounts = {str(owner) for owner in {item.get("OwnerId") for item in items} if owner}
    regions: set[str] = set()
    if arn_field := ARN_FIELD.get(key):
        for arn in {item.get(arn_field) for item in items}:
            if arn and (parts := _arn_parts(str(arn))):
                if parts[0]:
                    regions.add(parts[0])
                if parts[1]:
                    accounts.add(parts[1])
    return regions, accounts


def _json_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".json") and not name.startswith("."):
                yield Path(dirpath) / name


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Parsed JSON holds no reference cycles; the collector's full passes over millions of new dicts
    would otherwise cost more than the parsing (measured in benchmarks/audit_aws_org.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def count_files(root: str | Path) -> int:
    """How many files ``load_directory`` will read (for a progress bar)."""
    return sum(1 for _ in _json_files(Path(root)))


def load_directory(root: str | Path, region: str | None = None, account: str | None = None,
                   advance: Callable[[int], None] | None = None) -> list[Scope]:
    """Every account/region scope under ``root``, sorted; raises AwsInputError naming the bad file."""
    root = Path(root)
    if not root.is_dir():
        raise AwsInputError(f"{root}: not a directory")
    if region:
        check_region(region, "--region")
    by_dir: dict[Path, list[tuple[Path, str, list[dict[str, Any]]]]] = {}
    for path in _json_files(root):
        key, items = _read(path)
        by_dir.setdefault(path.parent, []).append((path, key, items))
        if advance is not None:
            advance(1)
    if not by_dir:
        raise AwsInputError(f"{root}: no .json files found")
    scopes: dict[tuple[str, str], Scope] = {}
    for directory, files in sorted(by_dir.items()):
        path_region = path_account = None
        for part in directory.relative_to(root).parts:
            if ACCOUNT_RE.match(part):
                path_account = part
            elif REGION_RE.match(part):
                path_region = check_region(part, str(directory))
        regions: set[str] = set()
        accounts: set[str] = set()
        for path, key, items in files:
            r, a = _content_scope(key, items)
            for got in r:
                check_region(got, str(path))
                if path_region and got != path_region:
                    raise AwsInputError(f"{path}: resources of region {got} in directory {directory.name} of region {path_region}")
            if path_account and a - {path_account}:
                raise AwsInputError(f"{path}: resources of account {sorted(a - {path_account})[0]} under account {path_account}")
            regions |= r
            accounts |= a
        if len(regions) > 1 and not path_region:
            raise AwsInputError(f"{directory}: files of several regions ({', '.join(sorted(regions))}) in one directory; "
                                "put each region in its own directory")
        if len(accounts) > 1 and not path_account:
            raise AwsInputError(f"{directory}: files of several accounts ({', '.join(sorted(accounts))}) in one directory; "
                                "put each account in its own directory")
        scope_region = path_region or (regions.pop() if regions else region)
        if not scope_region:
            raise AwsInputError(f"{directory}: cannot tell the region of {files[0][0].name}: put it under a directory "
                                "named after its region or pass --region")
        scope_account = path_account or (accounts.pop() if accounts else account or "unknown")
        scope = scopes.setdefault((scope_account, scope_region), Scope(scope_account, scope_region))
        for path, key, items in files:
            scope.add(key, items, str(path.relative_to(root)))
    return [scopes[k] for k in sorted(scopes)]


# Live collection: the same commands through boto3 paginators ("ec2 describe-vpcs" -> ec2.describe_vpcs);
# listeners are described per load balancer.
LIVE_CALLS: dict[str, tuple[str, str]] = {
    key: (command.split()[0], command.split()[1].replace("-", "_")) for key, (command, _) in COMMANDS.items() if key != "Listeners"
}


def _jsonable(value: Any) -> Any:
    """What the AWS CLI prints: timestamps as ISO 8601 text."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _collect(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    if client.can_paginate(operation):
        out: list[dict[str, Any]] = []
        for page in client.get_paginator(operation).paginate(**kwargs):
            out.extend(page.get(key, []))
        return out
    return list(getattr(client, operation)(**kwargs).get(key, []))


def collect_live(regions: list[str], profile: str | None = None, session: Any | None = None,
                 endpoint_url: str | None = None) -> list[Scope]:
    """Describe every audited resource through boto3, one scope per region of the profile's account."""
    import boto3
    import botocore.exceptions

    for region in regions:  # before any call: a typo should not cost a timeout
        check_region(region, "--region")
    scopes = []
    try:
        session = session or boto3.session.Session(profile_name=profile)
        account = session.client("sts", endpoint_url=endpoint_url, region_name=regions[0]).get_caller_identity()["Account"]
        for region in regions:
            scope = Scope(account, region)
            clients = {name: session.client(name, region_name=region, endpoint_url=endpoint_url) for name in ("ec2", "elbv2")}
            for key, (service, operation) in LIVE_CALLS.items():
                scope.add(key, _jsonable(_collect(clients[service], operation, key)), "live")
            listeners: list[dict[str, Any]] = []
            for lb in scope.items("LoadBalancers"):
                listeners += _jsonable(_collect(clients["elbv2"], "describe_listeners", "Listeners",
                                                LoadBalancerArn=lb["LoadBalancerArn"]))
            scope.add("Listeners", listeners, "live")
            scopes.append(scope)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise AwsInputError(f"live AWS audit ({profile or 'default profile'}): {exc}") from None
    return scopes
