"""pcap and pcapng captures summarized into flows: 5-tuple, family, packets, bytes, first/last seen.

Bytes are IP bytes (header included), as VPC Flow Logs count them, so the two sources add up.
"""

from __future__ import annotations

import socket
from typing import IO

import dpkt
import numpy as np
import pyarrow as pa

from v6ops.flows.addresses import endpoints, traffic_class
from v6ops.flows.problems import FlowInputError, Rejections
from v6ops.flows.schema import SOURCE_PCAP, conform, constant_label

PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

FlowKey = tuple[int, bytes, bytes, int, int, int]


def _reader(stream: IO[bytes], head: bytes, where: str) -> dpkt.pcap.Reader | dpkt.pcapng.Reader:
    try:
        return dpkt.pcapng.Reader(stream) if head == PCAPNG_MAGIC else dpkt.pcap.Reader(stream)
    except (ValueError, dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError) as exc:
        raise FlowInputError(f"{where}: not a readable capture ({exc})") from exc


def _ip_layer(reader: dpkt.pcap.Reader | dpkt.pcapng.Reader, buf: bytes) -> dpkt.Packet | None:
    link = reader.datalink()
    if link == dpkt.pcap.DLT_EN10MB:
        frame = dpkt.ethernet.Ethernet(buf)
        return frame.data if isinstance(frame.data, dpkt.ip.IP | dpkt.ip6.IP6) else None
    if link == dpkt.pcap.DLT_LINUX_SLL:
        frame = dpkt.sll.SLL(buf)
        return frame.data if isinstance(frame.data, dpkt.ip.IP | dpkt.ip6.IP6) else None
    if link in (dpkt.pcap.DLT_RAW, 101, 228, 229):
        version = buf[0] >> 4 if buf else 0
        return dpkt.ip.IP(buf) if version == 4 else dpkt.ip6.IP6(buf) if version == 6 else None
    if link == dpkt.pcap.DLT_NULL:
        frame = dpkt.loopback.Loopback(buf)
        return frame.data if isinstance(frame.data, dpkt.ip.IP | dpkt.ip6.IP6) else None
    return None


def read_capture(stream: IO[bytes], head: bytes, where: str, rejections: Rejections) -> pa.Table:
    reader = _reader(stream, head, where)
    flows: dict[FlowKey, list[float]] = {}
    index = 0
    try:
        for index, (ts, buf) in enumerate(reader):
            try:
                ip = _ip_layer(reader, buf)
            except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData, IndexError) as exc:
                rejections.reject(f"undecodable packet ({type(exc).__name__})", f"packet {index + 1}", where)
                continue
            if ip is None:
                rejections.reject("not an IP packet", f"packet {index + 1}", where)
                continue
            v6 = isinstance(ip, dpkt.ip6.IP6)
            proto = ip.nxt if v6 else ip.p
            size = (len(ip.data) + 40) if v6 else ip.len
            transport = ip.data
            sport = getattr(transport, "sport", 0) if proto in (6, 17, 132) else 0
            dport = getattr(transport, "dport", 0) if proto in (6, 17, 132) else 0
            key = (6 if v6 else 4, ip.src, ip.dst, sport, dport, proto)
            entry = flows.get(key)
            if entry is None:
                flows[key] = [1, size, ts, ts]
            else:
                entry[0] += 1
                entry[1] += size
                entry[3] = ts
    except (dpkt.dpkt.NeedData, ValueError) as exc:
        rejections.file_error(where, f"capture ends early after packet {index + 1}: {exc}")
    return _to_table(flows)


def _to_table(flows: dict[FlowKey, list[float]]) -> pa.Table:
    keys = list(flows)
    values = np.array(list(flows.values()), dtype=np.float64).reshape(-1, 4)

    def text(family: int, packed: bytes) -> str:
        return socket.inet_ntop(socket.AF_INET6 if family == 6 else socket.AF_INET, packed)

    src = endpoints(pa.array([text(k[0], k[1]) for k in keys], pa.string()))
    dst = endpoints(pa.array([text(k[0], k[2]) for k in keys], pa.string()))
    family = pa.array([k[0] for k in keys], pa.uint8())
    n = len(keys)
    columns: dict[str, pa.Array] = {
        "source": constant_label(SOURCE_PCAP, n),
        "start": pa.array(np.floor(values[:, 2]).astype(np.int64)).cast(pa.timestamp("s", tz="UTC")),
        "end": pa.array(np.floor(values[:, 3]).astype(np.int64)).cast(pa.timestamp("s", tz="UTC")),
        "family": family,
        "traffic_class": traffic_class(family, src, dst),
        **src.columns("src"),
        **dst.columns("dst"),
        "src_port": pa.array([k[3] for k in keys], pa.int32()),
        "dst_port": pa.array([k[4] for k in keys], pa.int32()),
        "protocol": pa.array([k[5] for k in keys], pa.int32()),
        "packets": pa.array(values[:, 0].astype(np.int64)),
        "bytes": pa.array(values[:, 1].astype(np.int64)),
    }
    return conform(columns, n)
