"""A clean local VPC file read straight into the report's aggregates by the C reader ``_linescan``.

``read_text`` gives each scanner (one per core) a contiguous part of a plain file, or
the next free scanner each decompressed chunk of a gzip file; ``read_parquet`` reads the columns
the report needs with Arrow, text columns dictionary-decoded (AWS writers dictionary-encode
addresses until a column chunk's dictionary outgrows about 1 MB, Arrow re-encodes the rest), row
groups split between the scanners, and adds them as id columns. Either way the result is a ``FileAggregates``: addresses as
dense ids with their texts, and the facts and pairs aggregates (see ``_linescan.c``); with
``DetectBins`` also the flows aggregate the detections read (text files only: the Parquet reader
does not carry destination ports, so with detections Parquet goes through the row path). A file the
reader cannot take exactly as the row path would gives ``None`` (see ``rawscan``).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from v6ops.flows import vpc
from v6ops.flows._linescan import Scanner
from v6ops.flows.parallel import in_parallel
from v6ops.flows.problems import FlowInputError
from v6ops.flows.sources import CHUNK_BYTES, IN_FLIGHT, LocalFile, decompressed, text_chunks

if TYPE_CHECKING:
    from typing_extensions import Buffer

# Role codes of ``_linescan`` (its enum), by AWS field name; other fields are only checked.
_ROLES = {
    "srcaddr": 3, "dstaddr": 4, "pkt-srcaddr": 5, "pkt-dstaddr": 6, "type": 7, "action": 8, "log-status": 9,
    "protocol": 10, "packets": 11, "bytes": 12, "start": 13, "end": 14,
}
_DETECT_ROLES = {"dstport": 15, "interface-id": 16}  # read only for the flows aggregate
_CHECK_INT32, _CHECK_INT64, _SKIP_TEXT = 1, 2, 0
_ADDRESSES, _TYPE, _ACTION, _STATUS = 0, 1, 2, 3  # the scanner's dictionaries
_NULL_INT32, _NULL_INT64 = np.iinfo(np.int32).min, np.iinfo(np.int64).min
CODE_NULL, CODE_UNKNOWN = 0, 1  # address codes besides 4, 6 and 64 (IPv6 in a NAT64 prefix)


@dataclass(frozen=True)
class DetectBins:
    """The flows aggregate the detections read: bins of ``seconds`` (dividing every rule's slide),
    and which interface ids face the internet (the ``facing`` flag of each bin)."""

    seconds: int
    facing: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileAggregates:
    addresses: pa.Array  # string: the text of address id i
    codes: np.ndarray  # uint8: the reader's code of address id i, checked by the caller
    facts: pa.Table  # log_status, flow_type, action, src_code, dst_code, protocol, fine_bin, records, packets, bytes
    merged: Future[tuple[pa.Table, pa.Table | None]]  # the pairs and (with detections) the flows aggregate
    records: int
    first: int | None  # epoch seconds
    last: int | None
    odd_lines: bytes = b""  # lines the reader did not take, in file order, for the row path

    @property
    def pairs(self) -> pa.Table:
        """src, dst (ids), flows, packets, bytes: counted flows per pair."""
        return self.merged.result()[0]

    @property
    def flows(self) -> pa.Table | None:
        """src, dst (ids), protocol, dst_port, bin, rejected, facing, flows, packets, bytes: counted flows
        with a source and a start per detection bin; None without ``DetectBins``."""
        return self.merged.result()[1]


def roles(fields: tuple[str, ...], detect: DetectBins | None = None) -> bytes:
    def role(field: str) -> int:
        if field in _ROLES:
            return _ROLES[field]
        if detect is not None and field in _DETECT_ROLES and (field != "interface-id" or detect.facing):
            return _DETECT_ROLES[field]
        if field in vpc.INT32_FIELDS:
            return _CHECK_INT32
        return _CHECK_INT64 if field in vpc.INT64_FIELDS else _SKIP_TEXT

    return bytes(role(f) for f in fields)


ODD_LINES_LIMIT = 8 << 20  # bytes of lines the reader hands the row path before it reads the whole file instead


def read_text(source: LocalFile, fields: tuple[str, ...], header: bool, compressed: bool,
              fine_bin: int, detect: DetectBins | None = None) -> FileAggregates | None:
    """Every line through the C reader, the lines it does not take kept for the row path.

    None when the file is better read by the row path alone: more than ``ODD_LINES_LIMIT`` of such
    lines, more distinct labels than the reader keeps, or a truncated gzip.
    """
    scanners = [_scanner(fields, fine_bin, detect) for _ in range(IN_FLIGHT)]
    try:
        odd = (_scan_stream if compressed else _scan_parts)(source, header, scanners)
    except (ValueError, OSError, FlowInputError):
        return None
    return _merged(scanners, odd, detect is not None)


def _scanner(fields: tuple[str, ...], fine_bin: int, detect: DetectBins | None = None) -> Scanner:
    if detect is None:
        return Scanner(roles(fields), fine_bin)
    return Scanner(roles(fields, detect), fine_bin, detect.seconds, detect.facing)


def _odd_lines(block: Buffer, offsets: bytes) -> list[bytes]:
    """The lines ``feed`` did not take, copied out of the block, each with its newline."""
    with memoryview(block) as view:
        return [bytes(view[start:start + length + 1]) for start, length in np.frombuffer(offsets, np.int64).reshape(-1, 2)]


class _OddLines:
    """The size of the lines the reader handed back, held to ``ODD_LINES_LIMIT`` across the scanners' threads."""

    def __init__(self) -> None:
        self.size = 0
        self.lock = threading.Lock()

    def add(self, lines: list[bytes]) -> list[bytes]:
        with self.lock:
            self.size += sum(len(line) for line in lines)
            if self.size > ODD_LINES_LIMIT:
                raise ValueError("too many lines for the row path: the row path reads the whole file")
        return lines


def _scan_stream(source: LocalFile, header: bool, scanners: list[Scanner]) -> bytes:
    """A gzip file: decompressed in this thread, each chunk parsed by whichever scanner is free."""
    free: queue.SimpleQueue[Scanner] = queue.SimpleQueue()
    for scanner in scanners:
        free.put(scanner)
    budget = _OddLines()

    def feed(chunk: pa.Buffer) -> list[bytes]:
        scanner = free.get()
        try:
            return _odd_lines(chunk, scanner.feed(chunk))
        finally:
            free.put(scanner)

    with source.path.open("rb") as handle:
        chunks = _whole_lines(text_chunks(decompressed(handle, source.name)), header)
        return b"".join(line for lines in in_parallel(feed, chunks) for line in budget.add(lines))


def _scan_parts(source: LocalFile, header: bool, scanners: list[Scanner]) -> bytes:
    """An uncompressed file in one contiguous part per scanner and thread, each read into its own buffer.

    Read with ``pread`` rather than memory-mapped: a log file truncated while mapped would kill the
    process (SIGBUS); read, it just ends early.
    """
    budget = _OddLines()
    descriptor = os.open(source.path, os.O_RDONLY)
    try:
        size = os.fstat(descriptor).st_size
        start = _next_line(descriptor, 0, size) if header else 0
        cuts = [start]
        for k in range(1, len(scanners)):
            cuts.append(max(cuts[-1], _next_line(descriptor, start + k * (size - start) // len(scanners), size)))
        cuts.append(size)

        def scan_part(index: int) -> list[bytes]:
            buffer, odd = bytearray(CHUNK_BYTES), []
            position, end = cuts[index], cuts[index + 1]
            kept = 0  # bytes of a line not yet complete at the front of the buffer
            while True:
                if kept == len(buffer):  # a line longer than the buffer
                    buffer.extend(bytes(len(buffer)))
                want = min(len(buffer) - kept, end - position)
                with memoryview(buffer) as view:
                    got = os.preadv(descriptor, [view[kept:kept + want]], position) if want > 0 else 0
                position += got
                filled, last = kept + got, got == 0
                cut = filled if last else buffer.rfind(b"\n", 0, filled) + 1
                if cut:
                    with memoryview(buffer) as view, view[:cut] as block:
                        whole = block if buffer[cut - 1] == ord("\n") else bytes(block) + b"\n"  # unterminated end
                        odd += budget.add(_odd_lines(whole, scanners[index].feed(whole)))
                kept = filled - cut
                buffer[:kept] = buffer[cut:filled]
                if last:
                    return odd

        with ThreadPoolExecutor(len(scanners)) as pool:
            return b"".join(line for lines in pool.map(scan_part, range(len(scanners))) for line in lines)
    finally:
        os.close(descriptor)


def _next_line(descriptor: int, offset: int, size: int) -> int:
    """The offset just after the first newline at or after ``offset`` (``size`` if there is none)."""
    while offset < size:
        window = os.pread(descriptor, 1 << 16, offset)
        if not window:
            break
        cut = window.find(b"\n")
        if cut >= 0:
            return offset + cut + 1
        offset += len(window)
    return size


def _whole_lines(chunks: Iterator[pa.Buffer], header: bool) -> Iterator[pa.Buffer]:
    """Chunks that end with a newline, the header line dropped (``rawscan.sniff`` saw it in the first 64 KiB)."""
    for chunk in chunks:
        if header:
            header = False
            chunk = chunk[memoryview(chunk)[: 1 << 16].tobytes().find(b"\n") + 1:]
        if chunk.size and memoryview(chunk)[chunk.size - 1] != ord("\n"):
            chunk = pa.py_buffer(chunk.to_pybytes() + b"\n")  # the file's last line, unterminated
        yield chunk


def _merged(scanners: list[Scanner], odd_lines: bytes = b"", detect: bool = False) -> FileAggregates:
    """One set of aggregates from every scanner, address ids renumbered into one dictionary.

    The first scanner's dictionary becomes the file's: it adopts the others' addresses, and their
    pairs are added to its own with their ids renumbered, on a thread of its own while the caller
    parses the addresses (the C code releases the GIL, and neither step touches the other's data).
    The flows aggregates are not merged, only renumbered: the detections sum them and count their
    distinct values, which one bin split over two rows leaves the same.
    """
    first = scanners[0]
    remaps = [first.adopt_addresses(scanner) for scanner in scanners[1:]]

    def merge_pairs() -> tuple[pa.Table, pa.Table | None]:
        for scanner, remap in zip(scanners[1:], remaps, strict=True):
            first.absorb(scanner, remap)
        if not detect:
            return _pairs(first), None
        renumbered = [_flows(first, None)] + [
            _flows(scanner, np.frombuffer(remap, np.int32)) for scanner, remap in zip(scanners[1:], remaps, strict=True)]
        return _pairs(first), pa.concat_tables(renumbered)

    merging = ThreadPoolExecutor(1)
    pairs = merging.submit(merge_pairs)
    merging.shutdown(wait=False)
    summaries = [s.summary() for s in scanners]
    firsts = [start for _, start, _ in summaries if start is not None]
    lasts = [last for _, _, last in summaries if last is not None]
    return FileAggregates(
        _strings(*first.texts(_ADDRESSES)), np.frombuffer(first.codes(), np.uint8),
        pa.concat_tables([_facts(s) for s in scanners]), pairs, sum(count for count, _, _ in summaries),
        min(firsts, default=None), max(lasts, default=None), odd_lines,
    )


def _pairs(scanner: Scanner) -> pa.Table:
    _, src, dst, flows, packets, sums = scanner.pairs()
    out = {}
    for side, raw in (("src", src), ("dst", dst)):
        ids = np.frombuffer(raw, np.int32)
        out[side] = _with_nulls(ids, ids < 0)
    out["flows"] = pa.array(np.frombuffer(flows, np.int64))
    for name, raw in (("packets", packets), ("bytes", sums)):
        values = np.frombuffer(raw, np.int64)
        out[name] = _with_nulls(values, values == _NULL_INT64)
    return pa.table(out)


def _flows(scanner: Scanner, remap: np.ndarray | None) -> pa.Table:
    """The scanner's flows aggregate, its address ids renumbered by ``remap`` (None: already the file's)."""
    _, src, dst, protocol, dst_port, bins, rejected, facing, flows, packets, sums = scanner.flows()
    sources, ids = np.frombuffer(src, np.int32), np.frombuffer(dst, np.int32)
    if remap is not None:
        sources, ids = remap[sources], np.where(ids < 0, ids, remap[ids])
    out: dict[str, pa.Array] = {"src": pa.array(sources)}
    out["dst"] = _with_nulls(ids, ids < 0)
    for name, raw in (("protocol", protocol), ("dst_port", dst_port)):
        values = np.frombuffer(raw, np.int32)
        out[name] = _with_nulls(values, values == _NULL_INT32)
    out["bin"] = pa.array(np.frombuffer(bins, np.int64))
    out["rejected"] = pa.array(np.frombuffer(rejected, np.uint8))
    out["facing"] = pa.array(np.frombuffer(facing, np.uint8))
    out["flows"] = pa.array(np.frombuffer(flows, np.int64))
    for name, raw in (("packets", packets), ("bytes", sums)):
        values = np.frombuffer(raw, np.int64)
        out[name] = _with_nulls(values, values == _NULL_INT64)
    return pa.table(out)


def _facts(scanner: Scanner) -> pa.Table:
    _, status, kind, action, src_code, dst_code, protocol, fine_bin, records, packets, sums = scanner.facts()
    out: dict[str, pa.Array] = {}
    for name, raw, which in (("log_status", status, _STATUS), ("flow_type", kind, _TYPE), ("action", action, _ACTION)):
        ids = np.frombuffer(raw, np.int8)
        out[name] = pa.DictionaryArray.from_arrays(_with_nulls(ids, ids < 0), _strings(*scanner.texts(which)))
    out["src_code"] = pa.array(np.frombuffer(src_code, np.uint8))
    out["dst_code"] = pa.array(np.frombuffer(dst_code, np.uint8))
    values = np.frombuffer(protocol, np.int32)
    out["protocol"] = _with_nulls(values, values == _NULL_INT32)
    for name, raw in (("fine_bin", fine_bin), ("records", records), ("packets", packets), ("bytes", sums)):
        values = np.frombuffer(raw, np.int64)
        out[name] = _with_nulls(values, values == _NULL_INT64)
    return pa.table(out)


def _strings(count: int, offsets: bytes, data: bytes) -> pa.Array:
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


def _with_nulls(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    return pa.array(values, mask=missing) if missing.any() else pa.array(values)


def read_parquet(source: LocalFile, fields: tuple[str, ...], fine_bin: int) -> FileAggregates | None:
    """The columns the report reads, text ones dictionary-decoded: row groups split between scanners and threads."""
    names = {f: f.replace("-", "_") for f in fields}
    wanted = [names[f] for f in fields if f in _ROLES]
    texts = [names[f] for f in fields if f in _ROLES and f not in vpc.INT32_FIELDS and f not in vpc.INT64_FIELDS]
    try:
        groups = pq.ParquetFile(source.path).num_row_groups
    except (pa.ArrowInvalid, OSError):
        return None
    scanners = [Scanner(roles(fields), fine_bin) for _ in range(min(IN_FLIGHT, max(1, groups)))]
    cuts = [groups * k // len(scanners) for k in range(len(scanners) + 1)]

    def scan_groups(index: int) -> None:
        scanner = scanners[index]
        parquet = pq.ParquetFile(source.path, read_dictionary=texts)
        encoders = {side: _Encoder(scanner, _ADDRESSES) for side in ("src", "dst")}
        encoders.update({field: _Encoder(scanner, which) for which, field in (
            (_TYPE, "type"), (_ACTION, "action"), (_STATUS, "log-status"))})
        for group in range(cuts[index], cuts[index + 1]):
            for batch in parquet.read_row_group(group, columns=wanted, use_threads=False).to_batches():
                _add_batch(scanner, encoders, batch, names)

    try:
        with ThreadPoolExecutor(len(scanners)) as pool:
            list(pool.map(scan_groups, range(len(scanners))))
    except (pa.ArrowInvalid, OSError, ValueError):
        return None  # unreadable, or more distinct labels than the reader keeps: the row path takes the file
    return _merged(scanners)


def _add_batch(scanner: Scanner, encoders: dict[str, _Encoder], batch: pa.RecordBatch, names: dict[str, str]) -> None:
    def column(field: str) -> pa.Array | None:
        return batch.column(names[field]) if field in names else None

    def endpoint(packet: str, eni: str) -> pa.Array | None:
        chosen = [c for c in (column(packet), column(eni)) if c is not None]
        if len(chosen) < 2:
            return chosen[0] if chosen else None
        return pc.dictionary_encode(pc.coalesce(*(c.cast(pa.string()) for c in chosen)))

    n = batch.num_rows
    ids = [encoders["src"].ids(endpoint("pkt-srcaddr", "srcaddr"), n, np.int32),
           encoders["dst"].ids(endpoint("pkt-dstaddr", "dstaddr"), n, np.int32),
           *(encoders[f].ids(column(f), n, np.int8) for f in ("type", "action", "log-status"))]
    numbers = [_filled(column("protocol"), n, _NULL_INT32, np.int32)] + [
        _filled(column(f), n, _NULL_INT64, np.int64) for f in ("packets", "bytes", "start", "end")]
    scanner.add(*ids, *numbers)


def _filled(values: pa.Array | None, n: int, null: int, dtype: type) -> memoryview:
    """A column as the scanner takes it: its exact width, nulls as the sentinel."""
    if values is None:
        return np.full(n, null, dtype).data
    if values.null_count:
        values = pc.fill_null(values, null)
    return np.ascontiguousarray(values.to_numpy(zero_copy_only=False).astype(dtype, copy=False)).data


class _Encoder:
    """Dictionary-encoded batches of one column -> ids in one of the scanner's dictionaries.

    Arrow hands a row group's batches dictionaries that grow by appending, so only the part of a
    batch's dictionary the previous batch did not have is looked up.
    """

    def __init__(self, scanner: Scanner, which: int) -> None:
        self.scanner = scanner
        self.which = which
        self.known: pa.Array | None = None
        self.codes = np.zeros(0, np.int32)

    def ids(self, column: pa.Array | None, n: int, dtype: type) -> memoryview:
        if column is None:
            return np.full(n, -1, dtype).data
        dictionary = column.dictionary
        known = self.known
        if known is None or len(dictionary) < len(known) or not dictionary.slice(0, len(known)).equals(known):
            known, self.codes = dictionary.slice(0, 0), np.zeros(0, np.int32)
        fresh = dictionary.slice(len(known))
        _, offsets, data = fresh.buffers()
        starts = np.frombuffer(offsets, np.int32, count=len(fresh) + 1, offset=fresh.offset * 4)
        found = self.scanner.encode(self.which, starts.data, data or b"", len(fresh))
        self.codes = np.concatenate([self.codes, np.frombuffer(found, np.int32)])
        self.known = dictionary
        return _filled(pc.take(pa.array(self.codes), column.indices), n, -1, dtype)
