"""The JSON fixtures are in the shapes botocore's service models define (ec2 2016-11-15, elbv2 2015-12-01).

moto does not model EnableDns64, dualstack-without-public-ipv4 or the default NACL's IPv6 entries, so
those cases rest on hand-written fixtures; this walks each fixture against the operation's output shape
(member names, types, enums), so a misspelt key or a value AWS cannot return fails here.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
import pytest

from tests.audit.aws_account import good_account, spoiled
from v6ops.audit.aws_inputs import COMMANDS

# Values AWS returns outside its own enum: describe-internet-gateways prints "available" for an attached
# gateway (the AWS CLI reference's own example output), though AttachmentStatus lists attaching/attached/...
OFF_MODEL = {("AttachmentStatus", "available")}


def check(shape: Any, value: Any, path: str) -> list[str]:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, the model says structure"]
        problems = []
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                problems += check(shape.members[key], item, f"{path}.{key}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, the model says list"]
        return [p for i, item in enumerate(value) for p in check(shape.member, item, f"{path}[{i}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {value!r} is not a string"]
        enum = shape.enum
        if enum and value not in enum and (shape.name, value) not in OFF_MODEL:
            return [f"{path}: {value!r} not in {shape.name} {enum}"]
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: {value!r} is not an integer"]
    if kind == "timestamp":
        return [] if isinstance(value, str) else [f"{path}: {value!r} is not a timestamp text"]
    return []


@functools.cache
def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def output_shape(key: str) -> Any:
    service, command = COMMANDS[key][0].split()
    operation = "".join(part.capitalize() for part in command.split("-"))
    return _model(service).operation_model(operation).output_shape


@pytest.mark.parametrize("variant", ["clean", "dualstack-without-public-ipv4", "dns64", "default-nacl-ipv6"])
def test_fixtures_match_the_botocore_model(variant: str) -> None:
    def change(f: dict[str, Any]) -> None:
        if variant == "dualstack-without-public-ipv4":
            f["j.json"]["LoadBalancers"][0]["IpAddressType"] = "dualstack-without-public-ipv4"
        elif variant == "dns64":
            f["b.json"]["Subnets"][0]["EnableDns64"] = True
    files = spoiled(change)
    if variant == "default-nacl-ipv6":
        assert any(e.get("Ipv6CidrBlock") == "::/0" and e["RuleNumber"] == 32767 for e in files["e.json"]["NetworkAcls"][0]["Entries"])
    for name, doc in files.items():
        (key,) = doc
        assert check(output_shape(key), doc, name) == []


def test_the_walk_catches_a_wrong_shape() -> None:
    files = good_account()
    files["j.json"]["LoadBalancers"][0]["IpAddressType"] = "dualstack-only"
    files["b.json"]["Subnets"][0]["EnableDNS64"] = True
    problems = check(output_shape("LoadBalancers"), files["j.json"], "j.json") + check(output_shape("Subnets"), files["b.json"], "b.json")
    assert len(problems) == 2 and "dualstack-only" in problems[0] and "EnableDNS64: not a member" in problems[1]
