"""Reading a tree of AWS CLI JSON: recognition by top-level key, scopes, and errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit.aws_account import good_account, write
from v6ops.audit import AwsInputError, aws_report_from_directory
from v6ops.audit.aws_inputs import load_directory


def test_accounts_and_regions_from_the_tree(tmp_path: Path) -> None:
    write(good_account(), tmp_path, "prod/111111111111/us-east-1")
    other = good_account()
    other["a.json"]["Vpcs"][0]["Ipv6CidrBlockAssociationSet"] = []
    other["a.json"]["Vpcs"][0]["OwnerId"] = "222222222222"
    for doc in other.values():  # ARNs of the other account and region
        for items in doc.values():
            for item in items:
                for k in ("SubnetArn", "LoadBalancerArn", "TargetGroupArn", "ListenerArn"):
                    if k in item:
                        item[k] = item[k].replace("us-east-1", "eu-west-1").replace("111111111111", "222222222222")
                if "OwnerId" in item:
                    item["OwnerId"] = "222222222222"
    write(other, tmp_path, "staging/222222222222/eu-west-1")
    report = aws_report_from_directory(tmp_path)
    assert [(s["account"], s["region"]) for s in report["inputs"]["scopes"]] == [
        ("111111111111", "us-east-1"), ("222222222222", "eu-west-1")]
    assert {(f["check_id"], f["account"], f["region"]) for f in report["findings"]} == {
        ("aws.vpc.ipv6_cidr_missing", "222222222222", "eu-west-1")}


def test_scope_from_the_content_when_directories_say_nothing(tmp_path: Path) -> None:
    scopes = load_directory(write(good_account(), tmp_path, "export"))
    assert [(s.account, s.region) for s in scopes] == [("111111111111", "us-east-1")]


def test_region_option_for_files_without_arns(tmp_path: Path) -> None:
    write({"vpcs.json": good_account()["a.json"]}, tmp_path)
    with pytest.raises(AwsInputError, match=r"cannot tell the region of vpcs.json.*--region"):
        load_directory(tmp_path)
    assert [(s.account, s.region) for s in load_directory(tmp_path, region="ap-southeast-2")] == [("111111111111", "ap-southeast-2")]


def test_paged_exports_merge(tmp_path: Path) -> None:
    files = good_account()
    subnets = files.pop("b.json")["Subnets"]
    files["page1.json"] = {"Subnets": subnets[:2], "NextToken": "abc"}
    files["page2.json"] = {"Subnets": subnets[1:]}
    scope = load_directory(write(files, tmp_path, "us-east-1"))[0]
    assert [s["SubnetId"] for s in scope.items("Subnets")] == [s["SubnetId"] for s in subnets]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("truncated.json", '{"Vpcs": [{"VpcId": "vpc-1", "Cidr', r"truncated\.json: not valid JSON \(truncated\?\)"),
    ("instances.json", json.dumps({"Reservations": []}), r"instances\.json: output of ec2 describe-instances \(top-level key 'Reservations'\)"),
    ("classic.json", json.dumps({"LoadBalancerDescriptions": []}), r"classic\.json: output of elb describe-load-balancers \(Classic"),
    ("odd.json", json.dumps({"Whatever": []}), r"odd\.json: top-level keys \['Whatever'\] are not the output of a command"),
    ("list.json", json.dumps([1, 2]), r"list\.json: top level is a JSON list"),
    ("notlist.json", json.dumps({"Vpcs": {"VpcId": "x"}}), r"notlist\.json: Vpcs is not a list"),
])
def test_bad_files_are_named(tmp_path: Path, name: str, content: str, message: str) -> None:
    write(good_account(), tmp_path, "us-east-1")
    (tmp_path / "us-east-1" / name).write_text(content)
    with pytest.raises(AwsInputError, match=message):
        aws_report_from_directory(tmp_path)


def test_unknown_region_directory(tmp_path: Path) -> None:
    write(good_account(), tmp_path, "111111111111/us-east-9")
    with pytest.raises(AwsInputError, match=r"us-east-9: unknown region 'us-east-9'"):
        load_directory(tmp_path)


def test_unknown_region_in_an_arn(tmp_path: Path) -> None:
    files = good_account()
    files["b.json"]["Subnets"][0]["SubnetArn"] = "arn:aws:ec2:mars-north-1:111111111111:subnet/subnet-pub"
    write(files, tmp_path)
    with pytest.raises(AwsInputError, match=r"b\.json: unknown region 'mars-north-1'"):
        load_directory(tmp_path)


def test_file_of_another_region_under_a_region_directory(tmp_path: Path) -> None:
    files = good_account()
    files["b.json"]["Subnets"][0]["SubnetArn"] = "arn:aws:ec2:eu-west-1:111111111111:subnet/subnet-pub"
    write(files, tmp_path, "us-east-1")
    with pytest.raises(AwsInputError, match=r"b\.json: resources of region eu-west-1 in directory us-east-1"):
        load_directory(tmp_path)


def test_unknown_region_option(tmp_path: Path) -> None:
    write(good_account(), tmp_path)
    with pytest.raises(AwsInputError, match=r"--region: unknown region 'moon-1'"):
        load_directory(tmp_path, region="moon-1")


def test_unknown_protocol_is_named(tmp_path: Path) -> None:
    files = good_account()
    files["c.json"]["SecurityGroups"][0]["IpPermissions"][0]["IpProtocol"] = "sctpx"
    with pytest.raises(AwsInputError, match=r"security group sg-web \(.*c\.json\): unknown protocol 'sctpx'"):
        aws_report_from_directory(write(files, tmp_path, "us-east-1"))


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(AwsInputError, match=r"no \.json files found"):
        load_directory(tmp_path)
