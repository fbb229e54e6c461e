"""Read any mix of VPC Flow Logs (text, gzip, Parquet), ALB access logs and captures into flow batches.

The format of each file is recognized from its content (magic bytes, header line, first record),
not from its name, so S3 keys and rotated files need no naming convention.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa

from v6ops.flows import alb, pcap, vpc
from v6ops.flows.parallel import in_parallel
from v6ops.flows.problems import FlowInputError, Rejections
from v6ops.flows.schema import complete
from v6ops.flows.sources import (
    CHUNK_BYTES,
    GZIP_MAGIC,
    PARQUET_MAGIC,
    LocalFile,
    Source,
    decompressed,
    expand,
    file_chunks,
    text_chunks,
)

Advance = Callable[[int], None]


@dataclass
class FileSummary:
    name: str
    format: str
    records: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "format": self.format, "records": self.records}


@dataclass
class Ingest:
    """What was read: per-file summaries and everything that was rejected."""

    rejections: Rejections = field(default_factory=Rejections)
    files: list[FileSummary] = field(default_factory=list)
    core_only: bool = False  # convert only the fields that feed core columns (the report needs no more)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)


class _Counted(io.RawIOBase):
    """A raw stream that reports the bytes read, for the progress bar; no extra buffering or copies."""

    def __init__(self, inner: IO[bytes], advance: Advance | None) -> None:
        self._inner = inner
        self._advance = advance

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        if self._advance is not None and data:
            self._advance(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_batches(
    paths: list[str],
    ingest: Ingest,
    vpc_format: str | None = None,
    s3_client: Any | None = None,
    advance: Advance | None = None,
    sources: list[Source] | None = None,
) -> Iterator[pa.Table]:
    """Normalized flow tables, one per chunk, from every input; problems land in ``ingest``."""
    fields = vpc.parse_format(vpc_format, ingest.rejections) if vpc_format else None
    for source in sources if sources is not None else expand(paths, s3_client):
        try:
            yield from _read_source(source, ingest, fields, advance)
        except FlowInputError as exc:  # truncated gzip, unknown layout: this file stops, the others go on
            ingest.rejections.file_error(source.name, str(exc))
        except OSError as exc:
            ingest.rejections.file_error(source.name, f"cannot read: {exc}")


def _read_source(source: Source, ingest: Ingest, fields: list[str] | None, advance: Advance | None) -> Iterator[pa.Table]:
    raw = source.open()
    try:
        head = raw.read(4)
        raw.seek(0)
        stream: Any = _Counted(raw, advance)
        compressed = head[:2] == GZIP_MAGIC
        if compressed:
            unzipped = decompressed(stream, source.name)
            head = unzipped.peek(4)[:4]
            stream = unzipped
        if head == PARQUET_MAGIC:
            summary = _summary(ingest, source, "vpc-parquet")
            if isinstance(source, LocalFile):
                path = str(source.path)
                reader = vpc.ParquetReader(lambda: path, source.name, ingest.rejections, ingest.core_only)
            else:
                data = pa.py_buffer(stream.read())
                reader = vpc.ParquetReader(
                    lambda: pa.BufferReader(data), source.name, ingest.rejections, ingest.core_only
                )
            for table in in_parallel(reader.read, iter(range(reader.row_groups))):
                summary.records += table.num_rows
                yield table
            return
        if head in pcap.PCAP_MAGICS or head == pcap.PCAPNG_MAGIC:
            summary = _summary(ingest, source, "pcapng" if head == pcap.PCAPNG_MAGIC else "pcap")
            table = pcap.read_capture(io.BufferedReader(stream), head, source.name, ingest.rejections)
            summary.records += table.num_rows
            yield table
            return
        if isinstance(source, LocalFile) and not compressed:
            chunks = file_chunks(source.path, advance)
        else:
            chunks = text_chunks(stream, CHUNK_BYTES)
        yield from _read_text(chunks, source, ingest, fields)
    finally:
        raw.close()


def _summary(ingest: Ingest, source: Source, kind: str) -> FileSummary:
    summary = FileSummary(source.name, kind)
    ingest.files.append(summary)
    return summary


def head_line(chunk: pa.Buffer) -> tuple[str, int]:
    """The first line's text and the offset just after it."""
    head = chunk[: 1 << 16].to_pybytes()
    cut = head.find(b"\n")
    line = head if cut < 0 else head[:cut]
    return line.decode("utf-8", "replace").strip(), (len(head) if cut < 0 else cut + 1)


def text_layout(first_line: str, fields: list[str] | None, where: str,
                rejections: Rejections) -> tuple[str, list[str] | None, bool]:
    """What a text file holds, from its first line: (format, VPC fields or None for ALB, whether line 1 is a header).

    Shared by the row path and the Spark engine, which decides this on the driver for files it splits.
    """
    if alb.looks_like_alb(first_line):
        return "alb", None, False
    if vpc.looks_like_header(first_line):
        return "vpc-flow-log", vpc.parse_format(first_line, rejections), True
    if fields is None:
        tokens = first_line.split()
        if not (tokens[0].isdigit() and len(tokens) == len(vpc.DEFAULT_FORMAT)):
            raise FlowInputError(
                f"{where}: not a recognized log (no VPC header line, not the default v2 format, not ALB); "
                "pass the custom format with --format"
            )
        fields = vpc.DEFAULT_FORMAT
    return "vpc-flow-log", fields, False


def _read_text(chunks: Iterator[pa.Buffer], source: Source, ingest: Ingest, fields: list[str] | None) -> Iterator[pa.Table]:
    first = next(chunks, pa.py_buffer(b""))
    first_line, after_first = head_line(first)
    if not first_line:
        _summary(ingest, source, "empty")
        return
    kind, fields, header = text_layout(first_line, fields, source.name, ingest.rejections)
    summary = _summary(ingest, source, kind)
    if fields is None:
        for chunk in _with_first(first, chunks):
            table = alb.parse_chunk(chunk, source.name, ingest.rejections)
            summary.records += table.num_rows
            yield table
        return
    if header:
        first = first[after_first:]
    parser = vpc.TextChunkParser(fields, source.name, ingest.rejections, ingest.core_only)
    for table in in_parallel(parser.parse, (c for c in _with_first(first, chunks) if c.size)):
        summary.records += table.num_rows
        yield table


def _with_first(first: pa.Buffer, rest: Iterator[pa.Buffer]) -> Iterator[pa.Buffer]:
    yield first
    yield from rest


def read_table(paths: list[str], vpc_format: str | None = None, s3_client: Any | None = None) -> tuple[pa.Table, Ingest]:
    """Everything in one Arrow table (small inputs, tests, the API); reports use the streaming path."""
    ingest = Ingest()
    tables = list(read_batches(paths, ingest, vpc_format, s3_client))
    if not tables:
        return complete(pa.table({})), ingest
    return complete(pa.concat_tables(tables, promote_options="permissive").combine_chunks()), ingest
