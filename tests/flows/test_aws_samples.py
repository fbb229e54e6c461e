"""Real sample records from the AWS documentation ("Flow log record examples", "Access log entries")."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from v6ops.flows.alb import parse_lines
from v6ops.flows.ingest import read_table
from v6ops.flows.problems import Rejections

DEFAULT_V2 = """\
2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA
2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA
2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 \
34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK
"""

CUSTOM_V3 = """\
version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr \
pkt-dstaddr protocol bytes packets start end action tcp-flags log-status
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 \
52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 \
10.0.0.62 52.213.180.42 5001 43416 10.0.0.62 52.213.180.42 6 376 7 1566848875 1566848933 ACCEPT 18 OK
"""

NAT_GATEWAY = """\
instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr
- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5
- eni-1235b8ca123456789 10.0.0.220 203.0.113.5 10.0.0.220 203.0.113.5
"""

CUSTOM_V5 = """\
version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id \
instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr \
pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status
5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 \
subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 \
52.95.128.179 10.0.0.71 S3 - - ingress OK
5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 \
subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 \
10.0.0.71 52.95.128.179 - S3 8 egress OK
"""

# ELB user guide, "Access log entries", HTTP/2 example, with the client rewritten as an unbracketed IPv6 address
# the way ALB prints it.
ALB_IPV6 = (
    'h2 2015-05-13T23:39:43.945958Z app/my-loadbalancer/50dc6c495c0c9188 2a02:a33c:4538:1:bcf4:5264:e01c:f215:50718 '
    '10.0.1.252:48160 0.000 0.002 0.000 200 200 5 257 "GET https://10.0.2.105:773/ HTTP/2.0" "curl/7.46.0" '
    'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
    'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
    '"Root=1-58337327-72bd00b0343d75b906739c42" "-" "-" 1 2018-07-02T22:22:48.364000Z "redirect" '
    '"https://example.com:80/" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90'
)
ALB_FAILED = (
    'http 2018-11-30T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - -1 -1 -1 504 - '
    '34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
    'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
    '"Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2018-11-30T22:22:48.364000Z "forward" "-" '
    '"-" "-" "-" "-" "-" -'
)


def _read(tmp_path: Path, name: str, text: str) -> tuple[pa.Table, Rejections]:
    (tmp_path / name).write_text(text)
    table, ingest = read_table([str(tmp_path / name)])
    return table, ingest.rejections


def test_default_v2_with_status_rows(tmp_path: Path) -> None:
    table, rejections = _read(tmp_path, "v2.log", DEFAULT_V2)
    assert rejections.total == 0
    rows = table.to_pylist()
    assert [r["log_status"] for r in rows] == ["OK", "OK", "NODATA", "SKIPDATA", "OK"]
    assert [r["action"] for r in rows] == ["ACCEPT", "REJECT", None, None, "ACCEPT"]
    nodata = rows[2]
    # status rows keep nulls, never zeros
    assert nodata["packets"] is None and nodata["bytes"] is None and nodata["src_family"] is None
    assert nodata["start"] is not None and nodata["interface_id"] == "eni-1235b8ca123456789"
    assert rows[4]["family"] == 6 and rows[4]["traffic_class"] == "ipv6" and rows[4]["src_kind"] == "documentation"
    assert rows[0]["traffic_class"] == "ipv4" and rows[0]["src_kind"] == "private" and rows[0]["bytes"] == 4249


def test_custom_v3_tcp_flags_and_type(tmp_path: Path) -> None:
    table, rejections = _read(tmp_path, "v3.log", CUSTOM_V3)
    assert rejections.total == 0
    rows = table.to_pylist()
    assert [r["tcp_flags"] for r in rows] == [2, 18]
    assert [r["packets"] for r in rows] == [8, 7] and [r["bytes"] for r in rows] == [568, 376]
    assert rows[0]["vpc_id"] == "vpc-abcdefab012345678" and rows[0]["family"] == 4


def test_nat_gateway_uses_packet_addresses(tmp_path: Path) -> None:
    table, rejections = _read(tmp_path, "nat.log", NAT_GATEWAY)
    assert rejections.total == 0
    rows = table.to_pylist()
    # the first record's dstaddr is the NAT gateway's ENI; pkt-dstaddr is the real destination
    assert rows[0]["dst_lo"] == (203 << 24) | (113 << 8) | 5
    assert rows[0]["eni_dstaddr"] == "10.0.0.220"
    assert rows[0]["instance_id"] is None


def test_custom_v5_directions(tmp_path: Path) -> None:
    table, rejections = _read(tmp_path, "v5.log", CUSTOM_V5)
    assert rejections.total == 0
    rows = table.to_pylist()
    assert [r["flow_direction"] for r in rows] == ["ingress", "egress"]
    assert rows[0]["pkt_src_aws_service"] == "S3" and rows[1]["traffic_path"] == 8 and rows[0]["traffic_path"] is None
    assert rows[0]["region"] == "ap-southeast-2"


def test_doubled_space_line_is_still_read(tmp_path: Path) -> None:
    line = DEFAULT_V2.splitlines()[0].replace(" 22 6 ", "  22 6 ")
    table, rejections = _read(tmp_path, "double.log", line + "\n")
    assert rejections.total == 0 and table.num_rows == 1 and table.column("dst_port")[0].as_py() == 22


def test_alb_ipv6_client_split_on_last_colon_and_failures() -> None:
    rejections = Rejections()
    table = parse_lines([ALB_IPV6, ALB_FAILED], "alb.log", rejections)
    assert rejections.total == 0
    ok, failed = table.to_pylist()
    assert ok["src_family"] == 6 and ok["src_port"] == 50718
    assert ok["src_hi"] == 0x2A02A33C45380001 and ok["src_lo"] == 0xBCF45264E01CF215
    assert ok["dst_port"] == 48160 and ok["target_processing_time"] == 0.002 and not ok["dispatch_failed"]
    assert ok["request"] == "GET https://10.0.2.105:773/ HTTP/2.0" and ok["user_agent"] == "curl/7.46.0"
    assert ok["actions_executed"] == "redirect" and ok["conn_trace_id"] == "TID_1234abcd5678ef90"
    assert failed["dispatch_failed"] and failed["request_processing_time"] is None
    assert failed["elb_status_code"] == 504 and failed["target_status_code"] is None and failed["dst_family"] is None


def test_alb_bad_lines_are_counted_by_reason() -> None:
    rejections = Rejections()
    lines = [
        ALB_IPV6.replace("2015-05-13T23:39:43.945958Z", "2015-13-45T99:00:00Z"),  # impossible time
        ALB_IPV6.replace(":50718 ", " "),  # client without a port
        ALB_IPV6.replace("0.000 0.002", "0.000 fast"),  # not a number
        ALB_IPV6.replace("2a02:a33c:4538:1:bcf4:5264:e01c:f215", "2a02::g::1"),  # not an address
        "h2 2015-05-13T23:39:43.945958Z too short",
        ALB_IPV6,
    ]
    table = parse_lines(lines, "alb.log", rejections)
    assert table.num_rows == 1
    assert rejections.total == 5
    assert rejections.counts["invalid client or target address"] == 1
    assert all(samples for samples in rejections.samples.values())
