"""Where flow records come from: files, directories, globs, gzip, and S3 objects.

Everything is read as a stream of byte chunks cut on line ends, so a 10 GB log never has to fit
in memory, and a truncated gzip member is reported as a file error after the lines before it.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlparse

import pyarrow as pa

from v6ops.flows.problems import FlowInputError

CHUNK_BYTES = 32 << 20
READ_BYTES = 1 << 20
IN_FLIGHT = 2  # chunks parsed at once: one per core of the target machine
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


class Source(Protocol):
    @property
    def name(self) -> str: ...

    def open(self) -> IO[bytes]: ...


@dataclass(frozen=True)
class LocalFile:
    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def open(self) -> IO[bytes]:
        return self.path.open("rb")


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    client: Any

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def open(self) -> IO[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"]
        return io.BytesIO(body.read())


def expand(paths: list[str], s3_client: Any | None = None) -> list[Source]:
    """Files named, found under directories, matched by globs, or listed under an s3:// prefix."""
    found: list[Source] = []
    for text in paths:
        if text.startswith("s3://"):
            found.extend(_s3_objects(text, s3_client))
            continue
        path = Path(text)
        if path.is_dir():
            found.extend(LocalFile(p) for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            found.append(LocalFile(path))
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise FlowInputError(f"{text}: the pattern matches no file")
            found.extend(LocalFile(p) for p in matches)
        else:
            raise FlowInputError(f"{text}: {_not_readable(path)}")
    if not found:
        raise FlowInputError(f"no input files under {', '.join(paths)}")
    return found


def _not_readable(path: Path) -> str:
    """Why a path that is not a regular file, a directory or a glob cannot be read: say what it is."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        return "no such file or directory"
    except PermissionError:
        return "permission denied (cannot look at it)"
    except OSError as exc:
        return exc.strerror or str(exc)
    kinds = [(stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISSOCK, "a socket")]
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"{kind}, not a regular file, directory, glob or s3:// URL"


def _s3_objects(url: str, client: Any | None) -> list[Source]:
    objects: list[Source] = [listed.object for listed in list_s3(url, client)]
    if not objects:
        raise FlowInputError(f"{url}: no objects under this prefix")
    return objects


@dataclass(frozen=True)
class S3Listed:
    """An object as ListObjectsV2 lists it: what identifies one version of it (ETag and size) and when it was written."""

    object: S3Object
    etag: str
    size: int
    modified: float  # LastModified, epoch seconds


def connect_s3(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client from the usual credential chain; ``endpoint_url`` for moto, MinIO or LocalStack."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url)


def list_s3(url: str, client: Any | None = None, page_size: int | None = None) -> list[S3Listed]:
    """Objects under ``s3://bucket/prefix`` (a glob in the key part filters), in key order.

    Every page of ListObjectsV2 is read (the paginator follows ``NextContinuationToken``); S3 lists
    keys in UTF-8 binary order, so the result is key order. "Folder" placeholders (keys ending
    in ``/``) are not objects to read.
    """
    import fnmatch

    parsed = urlparse(url)
    bucket, pattern = parsed.netloc, parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not bucket:
        raise FlowInputError(f"{url}: not an s3://bucket/prefix URL")
    client = client if client is not None else connect_s3()
    prefix = pattern.split("*", 1)[0].split("?", 1)[0]
    config = {"PageSize": page_size} if page_size else {}
    listed: list[S3Listed] = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, PaginationConfig=config)
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/") or (glob.has_magic(pattern) and not fnmatch.fnmatchcase(key, pattern)):
                continue
            listed.append(S3Listed(S3Object(bucket, key, client), item["ETag"].strip('"'), int(item["Size"]),
                                   item["LastModified"].timestamp()))
    return listed


def text_chunks(stream: IO[bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[pa.Buffer]:
    """Chunks of whole lines from a stream (gzip, S3); the last one may lack a final newline.

    Reads in small blocks: large fresh allocations per read cost more in page faults than the copy.
    """
    pending: list[bytes] = []
    size = 0
    while True:
        block = stream.read(READ_BYTES)
        if not block:
            break
        pending.append(block)
        size += len(block)
        if size < chunk_bytes:
            continue
        data = b"".join(pending)
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            pending, size = [data], len(data)
            continue
        yield pa.py_buffer(data)[:cut]
        pending = [data[cut:]]
        size = len(pending[0])
    if size:
        yield pa.py_buffer(b"".join(pending))


def file_chunks(
    path: Path, advance: Callable[[int], None] | None, chunk_bytes: int = CHUNK_BYTES, buffers: int = IN_FLIGHT + 1,
) -> Iterator[pa.Buffer]:
    """Chunks of whole lines of a local file, read into a ring of reused buffers.

    A chunk stays valid while the next ``buffers - 1`` chunks are read (the parsers copy what they
    keep), so that many chunks can be parsed at once. Reusing buffers avoids both a fresh allocation
    per chunk (page faults) and a memory map, whose touched pages would count as resident memory.
    """
    ring = [bytearray(chunk_bytes + READ_BYTES) for _ in range(buffers)]
    turn = 0
    buffer = ring[0]
    filled = 0
    with path.open("rb", buffering=0) as handle:
        while True:
            view = memoryview(buffer)
            count = handle.readinto(view[filled : filled + chunk_bytes])
            if advance is not None and count:
                advance(count)
            filled += count or 0
            if not count:
                if filled:
                    yield pa.py_buffer(view[:filled])
                return
            cut = buffer.rfind(b"\n", 0, filled) + 1
            if cut == 0:  # one line longer than a chunk: continue in a larger buffer
                buffer = ring[turn] = buffer[:filled] + bytearray(len(buffer))
                continue
            turn = (turn + 1) % buffers
            following = ring[turn]
            rest = filled - cut
            if len(following) < rest + READ_BYTES:
                following = ring[turn] = bytearray(rest + chunk_bytes + READ_BYTES)
            following[:rest] = buffer[cut:filled]
            yield pa.py_buffer(view[:cut])
            buffer, filled = following, rest


class TruncatedInputError(FlowInputError):
    """The compressed stream ended early; the lines read before that point were kept."""


def decompressed(stream: IO[bytes], name: str) -> io.BufferedReader:
    """Wrap a gzip stream so that a truncated or corrupt member raises TruncatedInputError naming the file."""
    return io.BufferedReader(_CheckedGzip(gzip.GzipFile(fileobj=stream, mode="rb"), name), buffer_size=1 << 20)


class _CheckedGzip(io.RawIOBase):
    def __init__(self, inner: gzip.GzipFile, name: str) -> None:
        self._inner = inner
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        try:
            return self._inner.read(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise TruncatedInputError(f"{self._name}: gzip data is truncated or corrupt ({exc})") from exc
