"""AWS Application Load Balancer access logs (ELB user guide, "Access log entries").

IPv6 clients are printed without brackets (``2a02:...:f215:50718``): the port follows the LAST
colon. A processing time of -1 means the request was not dispatched or the target timed out: a
failure, never a latency, so those rows carry ``dispatch_failed`` and null times.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from v6ops.flows.addresses import endpoints, traffic_class
from v6ops.flows.problems import Rejections
from v6ops.flows.schema import SOURCE_ALB, conform, constant_label

ALB_FIELDS = (
    "type", "time", "elb", "client:port", "target:port", "request_processing_time", "target_processing_time",
    "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes",
    "request", "user_agent", "ssl_cipher", "ssl_protocol", "target_group_arn", "trace_id", "domain_name",
    "chosen_cert_arn", "matched_rule_priority", "request_creation_time", "actions_executed", "redirect_url",
    "error_reason", "target:port_list", "target_status_code_list", "classification", "classification_reason",
    "conn_trace_id",
)
ALB_TYPES = frozenset({"http", "https", "h2", "grpcs", "ws", "wss"})
REQUIRED_FIELDS = 13  # through "request": older logs end after fewer optional fields
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_TIMES = ("request_processing_time", "target_processing_time", "response_processing_time")
_TEXT_FIELDS = ALB_FIELDS[12:]


def looks_like_alb(first_line: str) -> bool:
    tokens = first_line.split(" ", 2)
    return len(tokens) >= 2 and tokens[0] in ALB_TYPES and tokens[1][:2] == "20" and "T" in tokens[1]


def _split_endpoint(value: str) -> tuple[str | None, int | None]:
    """``addr:port`` with the port after the last colon (IPv6 clients are unbracketed)."""
    if value == "-":
        return None, None
    address, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not address:port: {value!r}")
    return address.strip("[]"), int(port)


def _number(value: str) -> float | None:
    return None if value == "-" else float(value)


def parse_lines(lines: list[str], where: str, rejections: Rejections) -> pa.Table:
    rows: list[list[object]] = []
    kept_lines: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        tokens = _TOKEN.findall(line)
        if len(tokens) < REQUIRED_FIELDS:
            rejections.reject(f"ALB line has {len(tokens)} fields, needs at least {REQUIRED_FIELDS}", line, where)
            continue
        if tokens[0] not in ALB_TYPES:
            rejections.reject("ALB line with an unknown request type", line, where)
            continue
        try:
            client, client_port = _split_endpoint(tokens[3])
            target, target_port = _split_endpoint(tokens[4])
            times = [float(t) for t in tokens[5:8]]
            elb_status = None if tokens[8] == "-" else int(tokens[8])
            target_status = None if tokens[9] == "-" else int(tokens[9])
            received, sent = int(tokens[10]), int(tokens[11])
            when = datetime.fromisoformat(tokens[1])
            if when.tzinfo is None:
                raise ValueError(f"time without a time zone: {tokens[1]!r}")
        except ValueError as exc:
            rejections.reject(f"ALB field value: {str(exc).split(':')[0]}", line, where)
            continue
        text = [t[1:-1] if t.startswith('"') and t.endswith('"') and len(t) >= 2 else t for t in tokens[12:]]
        extra = text[len(_TEXT_FIELDS):]
        text = (text + [None] * len(_TEXT_FIELDS))[: len(_TEXT_FIELDS)]
        rows.append([
            tokens[0], when, tokens[2], client, client_port, target, target_port, *times, elb_status,
            target_status, received, sent, *text, " ".join(extra) if extra else None,
        ])
        kept_lines.append(line)
    table, invalid = _to_table(rows)
    if invalid.any():
        for index in np.flatnonzero(invalid):
            rejections.reject("invalid client or target address", kept_lines[int(index)], where)
        table = table.filter(pa.array(~invalid))
    return table


def _to_table(rows: list[list[object]]) -> tuple[pa.Table, np.ndarray]:
    names = [
        "alb_type", "time", "elb", "client", "client_port", "target", "target_port", *_TIMES, "elb_status_code",
        "target_status_code", "received_bytes", "sent_bytes",
        *(n.replace(":", "_") for n in _TEXT_FIELDS), "alb_extra_fields",
    ]
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    data = dict(zip(names, cols, strict=True))
    n = len(rows)
    times = {name: np.array(data[name], dtype=np.float64) for name in _TIMES}
    failed = np.zeros(n, dtype=bool)
    for values in times.values():
        failed |= values < 0
    client = pa.array(data["client"], pa.string())
    target = pa.array(data["target"], pa.string())
    src, dst = endpoints(client), endpoints(target)
    family = pc.coalesce(src.family, dst.family)
    when = pa.array(data["time"], pa.timestamp("us", tz="UTC")) if n else None
    received = pa.array(data["received_bytes"], pa.int64())
    sent = pa.array(data["sent_bytes"], pa.int64())
    columns: dict[str, pa.Array] = {
        "source": constant_label(SOURCE_ALB, n),
        "family": family,
        "traffic_class": traffic_class(family, src, dst),
        **src.columns("src"),
        **dst.columns("dst"),
        "src_port": pa.array(data["client_port"], pa.int32()),
        "dst_port": pa.array(data["target_port"], pa.int32()),
        "protocol": pa.array(np.full(n, 6, dtype=np.int32)),
        "bytes": pc.add(received, sent),
        "elb_status_code": pa.array(data["elb_status_code"], pa.int32()),
        "target_status_code": pa.array(data["target_status_code"], pa.int32()),
        **{name: pa.array(values, mask=values < 0) for name, values in times.items()},
        "dispatch_failed": pa.array(failed),
        "alb_type": pa.array(data["alb_type"], pa.string()),
        "elb": pa.array(data["elb"], pa.string()),
        "received_bytes": received,
        "sent_bytes": sent,
        "request_time": when if when is not None else pa.array([], pa.timestamp("us", tz="UTC")),
    }
    if when is not None:
        columns["start"] = columns["end"] = pc.cast(pc.floor_temporal(when, unit="second"), pa.timestamp("s", tz="UTC"))
    for name in (*(n.replace(":", "_") for n in _TEXT_FIELDS), "alb_extra_fields"):
        columns[name] = pa.array(data[name], pa.string())
    return conform(columns, n), src.invalid | dst.invalid
