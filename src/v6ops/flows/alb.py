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
import pyarrow.csv as pacsv

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


# One line of the current 30-field layout in its plainest spelling: single spaces, every token either
# "quoted" (no quote or backslash inside) or bare (no quote). Such a line tokenizes exactly as ``_TOKEN``
# does (and as a CSV reader with '"' quotes does), so it is parsed by column; every other line goes
# through ``_parse_line`` one by one.
_PLAIN_LINE = "^" + " ".join('(?:"[^"\\\\]*"|[^\\s"]+)' for _ in ALB_FIELDS) + "$"
_ISO_UTC = r"^(?P<seconds>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,6}))?Z$"
_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
_ENDPOINT = r"^(?P<address>.*):(?P<port>[0-9]{1,5})$"


# Line breaks Python's splitlines() knows besides "\n": a chunk with any of them is split by Python.
_OTHER_BREAKS = "[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"


def parse_chunk(chunk: pa.Buffer, where: str, rejections: Rejections) -> pa.Table:
    """A chunk of whole ALB lines, split and checked by Arrow without a Python string per line.

    A chunk that is not UTF-8 or holds other line breaks than "\n" is split by Python exactly as
    before (bytes that are not UTF-8 become U+FFFD, and those lines are then rejected by value).
    """
    whole = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(np.array([0, chunk.size], np.int32)), chunk])
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        return parse_lines(chunk.to_pybytes().decode("utf-8", "replace").splitlines(), where, rejections)
    if pc.any(pc.match_substring_regex(whole, _OTHER_BREAKS)).as_py():
        return parse_lines(chunk.to_pybytes().decode("utf-8").splitlines(), where, rejections)
    text = pc.list_flatten(pc.split_pattern(whole, "\n"))
    return _parse(text.filter(pc.greater(pc.utf8_length(text), 0)), chunk, where, rejections)


def parse_lines(lines: list[str], where: str, rejections: Rejections) -> pa.Table:
    """ALB lines -> normalized rows; lines that cannot be taken are counted by reason with samples."""
    return _parse(pa.array(lines, pa.string()), None, where, rejections)


def _parse(text: pa.Array, chunk: pa.Buffer | None, where: str, rejections: Rejections) -> pa.Table:
    """Lines of the plain current layout are parsed by column (a CSV reader and Arrow checks); the
    rest, and any line whose values need a closer look (an odd time or number spelling, a bad
    value), one by one. ``chunk``, when given, holds exactly the lines of ``text`` (and empty ones)."""
    plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN_LINE), False).to_numpy(zero_copy_only=False)
    source = chunk if chunk is not None and plain.all() else None
    columns, taken = _by_column(_plain_fields(text.filter(pa.array(plain)), source))
    taken = _spread(taken, plain)
    fast = _to_table(_taken(columns, taken[plain]), text.filter(pa.array(taken)), where, rejections)
    slow = parse_each_line(text.filter(pa.array(~taken)).to_pylist(), where, rejections)
    return pa.concat_tables([fast, slow], promote_options="permissive") if slow.num_rows else fast


def parse_each_line(lines: list[str], where: str, rejections: Rejections) -> pa.Table:
    """The line parser alone: what ``parse_lines`` falls back to, and the reference it is tested against."""
    kept = [(row, line) for line in lines if (row := _parse_line(line, where, rejections)) is not None]
    return _to_table(_from_rows([row for row, _ in kept]), pa.array([line for _, line in kept], pa.string()),
                     where, rejections)


def _parse_line(line: str, where: str, rejections: Rejections) -> list[object] | None:
    if not line.strip():
        return None
    tokens = _TOKEN.findall(line)
    if len(tokens) < REQUIRED_FIELDS:
        rejections.reject(f"ALB line has {len(tokens)} fields, needs at least {REQUIRED_FIELDS}", line, where)
        return None
    if tokens[0] not in ALB_TYPES:
        rejections.reject("ALB line with an unknown request type", line, where)
        return None
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
        return None
    text = [t[1:-1] if t.startswith('"') and t.endswith('"') and len(t) >= 2 else t for t in tokens[12:]]
    extra = text[len(_TEXT_FIELDS):]
    text = (text + [None] * len(_TEXT_FIELDS))[: len(_TEXT_FIELDS)]
    return [
        tokens[0], when, tokens[2], client, client_port, target, target_port, *times, elb_status,
        target_status, received, sent, *text, " ".join(extra) if extra else None,
    ]


_NAMES = [
    "alb_type", "time", "elb", "client", "client_port", "target", "target_port", *_TIMES, "elb_status_code",
    "target_status_code", "received_bytes", "sent_bytes", *(n.replace(":", "_") for n in _TEXT_FIELDS),
    "alb_extra_fields",
]
_TYPES = {
    "time": pa.timestamp("us", tz="UTC"), "client_port": pa.int32(), "target_port": pa.int32(),
    **dict.fromkeys(_TIMES, pa.float64()), "elb_status_code": pa.int32(), "target_status_code": pa.int32(),
    "received_bytes": pa.int64(), "sent_bytes": pa.int64(),
}


def _from_rows(rows: list[list[object]]) -> dict[str, pa.Array]:
    values = list(zip(*rows, strict=True)) if rows else [() for _ in _NAMES]
    return {name: pa.array(v, _TYPES.get(name, pa.string())) for name, v in zip(_NAMES, values, strict=True)}


def _plain_fields(lines: pa.Array, chunk: pa.Buffer | None) -> dict[str, pa.Array]:
    """Plain lines (``_PLAIN_LINE``) split into their 30 fields, quotes removed, as the tokenizer would.

    ``chunk`` is the buffer they came from when it holds nothing else (the CSV reader reads it in place).
    """
    names = [f"f{i}" for i in range(len(ALB_FIELDS))]
    if not len(lines):
        return {name: pa.array([], pa.string()) for name in ALB_FIELDS}
    data = chunk if chunk is not None else pa.py_buffer(("\n".join(lines.to_pylist()) + "\n").encode())
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(delimiter=" ", quote_char='"', double_quote=False, escape_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), null_values=[], strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return {name: table.column(i).combine_chunks() for i, name in enumerate(ALB_FIELDS)}


def _spread(taken: np.ndarray, plain: np.ndarray) -> np.ndarray:
    """Flags of the plain lines back onto all lines (lines that are not plain were not taken)."""
    out = np.zeros(len(plain), dtype=bool)
    out[plain] = taken
    return out


def _by_column(field: dict[str, pa.Array]) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The plain lines' values, and which lines every value of was taken here (the rest go line by line)."""
    ok = pa.array(np.ones(len(field["type"]), dtype=bool))
    ok = pc.and_kleene(ok, pc.is_in(field["type"], pa.array(sorted(ALB_TYPES))))
    columns: dict[str, pa.Array] = {"alb_type": field["type"], "elb": field["elb"]}
    stamp = pc.extract_regex(field["time"], _ISO_UTC)
    seconds = pc.strptime(pc.struct_field(stamp, [0]), format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    micros = pc.cast(pc.utf8_rpad(pc.coalesce(pc.struct_field(stamp, [1]), ""), 6, "0"), pa.int64())
    columns["time"] = pc.cast(pc.add(pc.cast(seconds, pa.int64()), micros), pa.timestamp("us", tz="UTC"))
    # strptime rolls impossible dates over (Feb 30 -> Mar 2): only a time that prints back as read is taken
    ok = pc.and_kleene(ok, pc.equal(pc.strftime(pc.cast(seconds, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S"),
                                 pc.struct_field(stamp, [0])))
    for side, name in (("client", "client:port"), ("target", "target:port")):
        parts = pc.extract_regex(field[name], _ENDPOINT)
        port = pc.cast(pc.struct_field(parts, [1]), pa.int32(), safe=False)
        missing = pc.equal(field[name], "-")
        ok = pc.and_kleene(ok, pc.or_kleene(missing, pc.and_kleene(pc.is_valid(parts), pc.less_equal(port, 65535))))
        columns[side] = pc.if_else(missing, pa.scalar(None, pa.string()), pc.utf8_trim(pc.struct_field(parts, [0]), "[]"))
        columns[f"{side}_port"] = pc.if_else(missing, pa.scalar(None, pa.int32()), port)
    for name in _TIMES:
        columns[name], matched = _number(field[name], pa.float64(), _DECIMAL)
        ok = pc.and_kleene(ok, matched)
    for name in ("elb_status_code", "target_status_code"):
        missing = pc.equal(field[name], "-")
        value, matched = _number(field[name], pa.int32(), "^[0-9]{1,9}$")
        ok = pc.and_kleene(ok, pc.or_kleene(missing, matched))
        columns[name] = pc.if_else(missing, pa.scalar(None, pa.int32()), value)
    for name in ("received_bytes", "sent_bytes"):
        columns[name], matched = _number(field[name], pa.int64(), "^[0-9]{1,18}$")
        ok = pc.and_kleene(ok, matched)
    for name in _TEXT_FIELDS:
        columns[name.replace(":", "_")] = field[name]
    columns["alb_extra_fields"] = pa.nulls(len(field["type"]), pa.string())
    return columns, pc.fill_null(ok, False).to_numpy(zero_copy_only=False)


def _number(value: pa.Array, kind: pa.DataType, pattern: str) -> tuple[pa.Array, pa.Array]:
    """``value`` as a number where it matches ``pattern`` (0 elsewhere, never cast), and where it matched."""
    matched = pc.fill_null(pc.match_substring_regex(value, pattern), False)
    return pc.cast(pc.if_else(matched, value, "0"), kind), matched


def _taken(columns: dict[str, pa.Array], taken: np.ndarray) -> dict[str, pa.Array]:
    keep = pa.array(taken)
    return {name: columns[name].filter(keep) for name in _NAMES}


def _to_table(data: dict[str, pa.Array], lines: pa.Array, where: str, rejections: Rejections) -> pa.Table:
    """Normalized rows; rows whose client or target is not an address are counted and dropped."""
    n = len(lines)
    times = {name: data[name].to_numpy(zero_copy_only=False) for name in _TIMES}
    failed = np.zeros(n, dtype=bool)
    for values in times.values():
        failed |= values < 0
    src, dst = endpoints(data["client"]), endpoints(data["target"])
    family = pc.coalesce(src.family, dst.family)
    when = data["time"]
    received, sent = data["received_bytes"], data["sent_bytes"]
    columns: dict[str, pa.Array] = {
        "source": constant_label(SOURCE_ALB, n),
        "family": family,
        "traffic_class": traffic_class(family, src, dst),
        **src.columns("src"),
        **dst.columns("dst"),
        "src_port": data["client_port"],
        "dst_port": data["target_port"],
        "protocol": pa.array(np.full(n, 6, dtype=np.int32)),
        "bytes": pc.add(received, sent),
        "elb_status_code": data["elb_status_code"],
        "target_status_code": data["target_status_code"],
        **{name: pa.array(values, mask=values < 0) for name, values in times.items()},
        "dispatch_failed": pa.array(failed),
        "alb_type": data["alb_type"],
        "elb": data["elb"],
        "received_bytes": received,
        "sent_bytes": sent,
        "request_time": when,
    }
    if n:
        columns["start"] = columns["end"] = pc.cast(pc.floor_temporal(when, unit="second"), pa.timestamp("s", tz="UTC"))
    for name in (*(n.replace(":", "_") for n in _TEXT_FIELDS), "alb_extra_fields"):
        columns[name] = data[name]
    table = conform(columns, n)
    invalid = src.invalid | dst.invalid
    if invalid.any():
        for line in lines.filter(pa.array(invalid)).to_pylist():
            rejections.reject("invalid client or target address", line, where)
        table = table.filter(pa.array(~invalid))
    return table
