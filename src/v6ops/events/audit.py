"""The tamper-evident audit log: append-only JSON Lines in a hash chain with signed checkpoints.

Each record is one canonical JSON object (sorted keys, no spaces) carrying ``seq`` and the previous
record's ``prev`` hash, followed by its own ``hash`` (the last key) = SHA-256 of the JSON before it. Every
``checkpoint_every`` records (and on close) a checkpoint record signs ``seq`` and ``hash`` with
Ed25519, and the latest checkpoint is also written to ``FILE.anchor``, so cutting records off the
end is visible even when the cut lands on a checkpoint. An attacker who rewrites the file and
recomputes every hash still cannot sign: the verifier reports the first checkpoint that does not verify.

``details`` (and a change's ``before`` and ``after``) can be encrypted with AES-256-GCM; the key id
is kept with the ciphertext and the sequence number is the associated data, so a ciphertext moved to
another record does not decrypt. Rotation appends a new key to the key file; old records keep naming
their key, so the key file keeps every key still needed to read the log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from v6ops.events.model import EventValueError, SecurityEvent

GENESIS = "0" * 64
KEY_ENV = "V6OPS_AUDIT_KEYS"
_ENCRYPTED_FIELDS = ("details", "before", "after")


class AuditLogError(EventValueError):
    """An audit log, key file or record that cannot be used; the message names it."""


_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical(obj: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8 (RFC 8785 in spirit; the verifier uses this same function)."""
    return orjson.dumps(obj, default=str, option=_CANONICAL)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def encode_record(body: dict[str, Any]) -> tuple[bytes, str]:
    """The record's line: its canonical JSON with ``"hash"`` (SHA-256 of that JSON) appended as the last key."""
    data = canonical(body)
    digest = hashlib.sha256(data).hexdigest()
    return data[:-1] + b',"hash":"' + digest.encode() + b'"}', digest


# ---------------------------------------------------------------------------------------------- keys


@dataclass
class Keyring:
    """AES-256-GCM keys by id; the last one is current. File lines: ``KEY_ID BASE64_32_BYTES``."""

    keys: dict[str, bytes] = field(default_factory=dict)
    current: str = ""

    @classmethod
    def parse(cls, text: str, origin: str) -> Keyring:
        ring = cls()
        for n, raw in enumerate(text.replace(",", "\n").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.replace(":", " ", 1).split()
            if len(parts) != 2:
                raise AuditLogError(f"{origin} line {n}: expected 'KEY_ID BASE64KEY'")
            kid, b64 = parts
            try:
                key = base64.b64decode(b64, validate=True)
            except ValueError as exc:
                raise AuditLogError(f"{origin} line {n}: key {kid!r} is not base64") from exc
            if len(key) != 32:
                raise AuditLogError(f"{origin} line {n}: key {kid!r} is {len(key)} bytes, AES-256 needs 32")
            ring.keys[kid] = key
            ring.current = kid
        if not ring.keys:
            raise AuditLogError(f"{origin} holds no keys")
        return ring

    @classmethod
    def load(cls, path: str | Path | None = None) -> Keyring | None:
        """From a key file, else ``$V6OPS_AUDIT_KEYS`` (same lines, or comma separated), else None."""
        if path is not None:
            try:
                return cls.parse(Path(path).read_text(), f"key file {str(path)!r}")
            except OSError as exc:
                raise AuditLogError(f"key file {str(path)!r} cannot be read: {exc.strerror}") from exc
        env = os.environ.get(KEY_ENV)
        return cls.parse(env, f"${KEY_ENV}") if env else None


def rotate_key(path: str | Path, kid: str | None = None) -> str:
    """Append a fresh random key to the key file (created 0600); it becomes the current key."""
    path = Path(path)
    kid = kid or f"k{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
    if not kid.isprintable() or " " in kid or ":" in kid or "," in kid:
        raise AuditLogError(f"key id {kid!r} may not contain spaces, ':' or ','")
    if path.exists() and kid in Keyring.load(path).keys:  # type: ignore[union-attr]
        raise AuditLogError(f"key id {kid!r} is already in {str(path)!r}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as fh:
        fh.write(f"{kid} {base64.b64encode(secrets.token_bytes(32)).decode()}\n")
    return kid


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AuditLogError(f"signing key {str(path)!r} cannot be loaded: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditLogError(f"signing key {str(path)!r} is not an Ed25519 private key")
    return key


def load_verify_key(path: str | Path) -> Ed25519PublicKey:
    """A public key PEM, or the private key file (its public half is used)."""
    data = Path(path).read_bytes() if Path(path).exists() else b""
    if not data:
        raise AuditLogError(f"verify key {str(path)!r} cannot be read")
    if b"PRIVATE KEY" in data:
        return load_signing_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise AuditLogError(f"verify key {str(path)!r} cannot be loaded: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditLogError(f"verify key {str(path)!r} is not an Ed25519 public key")
    return key


def generate_signing_key(path: str | Path) -> Path:
    """Write a new Ed25519 private key (PEM, 0600) and its public key beside it (``.pub``)."""
    key = Ed25519PrivateKey.generate()
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    pub = path.with_name(path.name + ".pub")
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return pub


def _checkpoint_message(seq: int, digest: str) -> bytes:
    return f"v6ops-audit-checkpoint:{seq}:{digest}".encode()


# ---------------------------------------------------------------------------------------------- writer


class AuditLog:
    """Appends records; thread-safe; also a :class:`~v6ops.events.Sink` (``emit`` audits an event)."""

    def __init__(self, path: str | Path, *, keyring: Keyring | None = None,
                 signing_key: Ed25519PrivateKey | None = None, checkpoint_every: int = 1000,
                 fsync: bool = False) -> None:
        if checkpoint_every < 1:
            raise AuditLogError(f"checkpoint_every {checkpoint_every!r} must be >= 1")
        self.path = Path(path)
        self.anchor_path = self.path.with_name(self.path.name + ".anchor")
        self.keyring, self.signing_key = keyring, signing_key
        self.checkpoint_every, self.fsync = checkpoint_every, fsync
        self.lock = threading.Lock()
        self.seq, self.last_hash = self._resume()
        self.since_checkpoint = 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise AuditLogError(f"audit log {str(path)!r} cannot be opened: {exc.strerror}") from exc
        self.fh = os.fdopen(fd, "ab", buffering=1 << 16)
        self._aead = AESGCM(self.keyring.keys[self.keyring.current]) if self.keyring is not None else None
        self._nonces, self._nonce_pos = b"", 0
        if self.keyring is not None and self._last_key_id != self.keyring.current:
            self._append({"kind": "key", "key_id": self.keyring.current})

    def _resume(self) -> tuple[int, str]:
        """Continue the chain of an existing file from its last complete record."""
        self._last_key_id = ""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0, GENESIS
        with open(self.path, "rb") as fh:
            fh.seek(max(0, self.path.stat().st_size - (1 << 20)))
            tail = fh.read()
        if not tail.endswith(b"\n"):
            raise AuditLogError(f"audit log {str(self.path)!r} ends in a partial record; run "
                                "'v6ops policy audit-log verify' and move it aside before appending")
        last = json.loads(tail.splitlines()[-1])
        for line in reversed(tail.splitlines()):
            rec = json.loads(line)
            if rec.get("kind") == "key" or "enc" in rec:
                self._last_key_id = rec.get("key_id") or rec["enc"]["kid"]
                break
        return int(last["seq"]), str(last["hash"])

    def _nonce(self) -> bytes:
        """A fresh random 96-bit GCM nonce (NIST SP 800-38D section 8.2.2), drawn from the OS in bulk."""
        pos = self._nonce_pos
        if pos >= len(self._nonces):
            self._nonces, pos = os.urandom(12 * 4096), 0
        self._nonce_pos = pos + 12
        return self._nonces[pos:pos + 12]

    def _seal(self, record: dict[str, Any]) -> dict[str, Any]:
        record["seq"] = self.seq + 1
        record["prev"] = self.last_hash
        if self._aead is not None and self.keyring is not None:
            clear = {k: record.pop(k) for k in _ENCRYPTED_FIELDS if k in record}
            if clear:
                nonce = self._nonce()
                ct = self._aead.encrypt(nonce, canonical(clear), str(record["seq"]).encode())
                record["enc"] = {"alg": "A256GCM", "kid": self.keyring.current,
                                 "nonce": base64.b64encode(nonce).decode(), "ct": base64.b64encode(ct).decode()}
        return record

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        record = self._seal(record)
        line, record["hash"] = encode_record(record)
        self.fh.write(line + b"\n")
        self.seq, self.last_hash = record["seq"], record["hash"]
        if record["kind"] != "checkpoint":
            self.since_checkpoint += 1
            if self.since_checkpoint >= self.checkpoint_every:
                self._checkpoint()
        return record

    def _checkpoint(self) -> None:
        self.since_checkpoint = 0
        if self.signing_key is None:
            return
        covered_seq, covered = self.seq, self.last_hash
        sig = self.signing_key.sign(_checkpoint_message(covered_seq, covered))
        rec = self._append({"kind": "checkpoint", "ts": _now(), "covers_seq": covered_seq, "covers_hash": covered,
                            "sig": base64.b64encode(sig).decode()})
        self.fh.flush()
        if self.fsync:
            os.fsync(self.fh.fileno())
        tmp = self.anchor_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": rec["seq"], "hash": rec["hash"], "covers_seq": covered_seq,
                                   "covers_hash": covered, "sig": rec["sig"]}) + "\n")
        os.replace(tmp, self.anchor_path)

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one record (``ts`` added) and return it as written."""
        with self.lock:
            return self._append({"kind": kind, "ts": fields.pop("ts", None) or _now(), **fields})

    def change(self, actor: str, action: str, target: str, before: Any, after: Any, **extra: Any) -> dict[str, Any]:
        """A configuration change: who, what, on which object, the state before and after. Written through
        to the file at once (changes are rare and each one matters)."""
        rec = self.record("change", actor=actor, action=action, target=target, before=before, after=after, **extra)
        self.flush()
        return rec

    def emit(self, event: SecurityEvent) -> None:
        d = event.to_dict()
        details = d.pop("details")
        with self.lock:
            self._append({"kind": "event", "ts": d.pop("timestamp"), "event": d, "details": details})

    def flush(self) -> None:
        with self.lock:
            self.fh.flush()
            if self.fsync:
                os.fsync(self.fh.fileno())

    def close(self) -> None:
        with self.lock:
            if self.fh.closed:
                return
            if self.since_checkpoint:
                self._checkpoint()
            self.fh.flush()
            if self.fsync:
                os.fsync(self.fh.fileno())
            self.fh.close()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------- verifier


@dataclass
class Problem:
    kind: str  # changed | deleted | inserted | reordered | truncated | wrong_key | bad_signature
    line: int
    seq: int | None
    message: str


@dataclass
class VerifyReport:
    path: str
    records: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    signatures_checked: bool = False
    decrypted: int = 0
    sealed: bool = False
    truncated: bool = False
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.truncated

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "records": self.records, "last_seq": self.last_seq,
                "checkpoints": self.checkpoints, "signatures_checked": self.signatures_checked,
                "decrypted": self.decrypted, "sealed": self.sealed, "truncated": self.truncated,
                "problem": None if self.problem is None else self.problem.__dict__}


def decrypt(record: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """The record with its encrypted fields restored; AuditLogError names a missing or wrong key."""
    enc = record.get("enc")
    if not enc:
        return record
    key = keyring.keys.get(enc["kid"])
    if key is None:
        raise AuditLogError(f"record seq {record['seq']}: key {enc['kid']!r} is not in the key ring")
    try:
        clear = AESGCM(key).decrypt(base64.b64decode(enc["nonce"]), base64.b64decode(enc["ct"]),
                                    str(record["seq"]).encode())
    except InvalidTag as exc:
        raise AuditLogError(f"record seq {record['seq']}: does not decrypt with key {enc['kid']!r} "
                            "(wrong key, or the ciphertext was altered)") from exc
    out = {k: v for k, v in record.items() if k != "enc"}
    out.update(json.loads(clear))
    return out


def _parse(raw: bytes, line_no: int) -> tuple[dict[str, Any] | None, str]:
    try:
        rec = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, f"line {line_no} is not a JSON record"
    if not isinstance(rec, dict) or not isinstance(rec.get("seq"), int) or "hash" not in rec or "prev" not in rec:
        return None, f"line {line_no} is not an audit record (seq, prev, hash)"
    line, digest = encode_record({k: v for k, v in rec.items() if k != "hash"})
    if digest != rec["hash"]:
        return None, f"line {line_no} (seq {rec['seq']}) does not match its hash: its content was changed"
    if line != raw:
        return None, f"line {line_no} (seq {rec['seq']}) is not in canonical form: its bytes were edited"
    return rec, ""


def _read_anchor(path: Path, verify_key: Ed25519PublicKey | None) -> tuple[dict[str, Any] | None, Problem | None]:
    anchor_path = path.with_name(path.name + ".anchor")
    if not anchor_path.exists():
        return None, None
    try:
        anchor = json.loads(anchor_path.read_text())
        int(anchor["seq"]), str(anchor["hash"])
    except (ValueError, KeyError, TypeError) as exc:
        return None, Problem("changed", 0, None, f"anchor {str(anchor_path)!r} is unreadable: {exc}")
    if verify_key is not None:
        try:
            verify_key.verify(base64.b64decode(anchor["sig"]),
                              _checkpoint_message(int(anchor["covers_seq"]), str(anchor["covers_hash"])))
        except (InvalidSignature, ValueError, KeyError):
            return None, Problem("changed", 0, int(anchor["seq"]), f"anchor {str(anchor_path)!r} has a bad signature")
    return anchor, None


def _find_seq(path: Path, seq: int, from_line: int) -> int | None:
    """The line (after ``from_line``) holding ``seq``: a second pass, run only once a problem is found."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if n <= from_line:
                continue
            try:
                if json.loads(raw).get("seq") == seq:
                    return n
            except (ValueError, AttributeError):
                continue
    return None


def verify(path: str | Path, verify_key: Ed25519PublicKey | None = None,
           keyring: Keyring | None = None) -> VerifyReport:
    """Walk the chain in one streaming pass (memory stays flat for any log size); stop at the first
    problem and say what it is, where, and whether the tail was cut."""
    path = Path(path)
    report = VerifyReport(str(path), signatures_checked=verify_key is not None)
    anchor, report.problem = _read_anchor(path, verify_key)
    if report.problem is not None:
        return report
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed in finally; the generator below reads it)
    except OSError as exc:
        raise AuditLogError(f"audit log {str(path)!r} cannot be read: {exc.strerror}") from exc
    torn = b""

    def parsed() -> Iterator[tuple[int, dict[str, Any] | None, str]]:
        nonlocal torn
        for n, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                torn = raw
                return
            rec, why = _parse(raw[:-1], n)
            yield n, rec, why

    try:
        lines = parsed()
        nxt = next(lines, None)
        prev: dict[str, Any] | None = None
        expected, last_hash, last_checkpoint, anchor_hash = 1, GENESIS, 0, None
        last_line = 0
        while nxt is not None and report.problem is None:
            line, rec, why = nxt
            nxt = next(lines, None)
            last_line = line
            if rec is None:
                report.problem = Problem("changed", line, None, why)
                break
            report.records += 1
            ahead = nxt[1] if nxt is not None else None
            problem = _chain_problem(path, rec, line, prev, ahead, expected, last_hash)
            if problem is None and rec["kind"] == "checkpoint":
                problem = _checkpoint_problem(rec, line, prev, last_checkpoint, verify_key)
                if problem is None:
                    report.checkpoints += 1
                    last_checkpoint = rec["seq"]
            if problem is None and keyring is not None and "enc" in rec:
                try:
                    decrypt(rec, keyring)
                    report.decrypted += 1
                except AuditLogError as exc:
                    problem = Problem("wrong_key", line, rec["seq"], str(exc))
            if problem is not None:
                report.problem = problem
                break
            if anchor is not None and rec["seq"] == int(anchor["seq"]):
                anchor_hash = rec["hash"]
            expected, last_hash, prev = rec["seq"] + 1, rec["hash"], rec
            report.last_seq = rec["seq"]
        for _ in lines:  # count what is after a problem, and find a torn tail
            pass
    finally:
        fh.close()
    report.truncated = bool(torn)
    report.sealed = prev is not None and prev["kind"] == "checkpoint" and not torn
    if report.problem is None and anchor is not None:
        seq = int(anchor["seq"])
        if report.last_seq < seq:
            report.truncated = True
            report.problem = Problem("truncated", last_line + 1, report.last_seq + 1,
                                     f"the log ends at seq {report.last_seq} but its last signed checkpoint is "
                                     f"seq {seq}: the tail was cut off")
        elif anchor_hash != str(anchor["hash"]):
            report.problem = Problem("changed", 0, seq, f"checkpoint seq {seq} differs from the anchor: "
                                                         "the log was rewritten")
    if torn and report.problem is None:
        report.problem = Problem("truncated", last_line + 1, None,
                                 f"the file ends in a partial record ({len(torn)} bytes without a newline)")
    return report


def _chain_problem(path: Path, rec: dict[str, Any], line: int, prev_rec: dict[str, Any] | None,
                   nxt: dict[str, Any] | None, expected: int, last_hash: str) -> Problem | None:
    seq = rec["seq"]
    if seq == expected and rec["prev"] == last_hash:
        return None
    if prev_rec is not None and seq == prev_rec["seq"] and rec["prev"] == prev_rec["prev"]:
        return Problem("inserted", line - 1, prev_rec["seq"],
                       f"line {line - 1} (seq {seq}) was inserted: line {line} carries the same seq and chains "
                       "from the record before it")
    if seq == expected and nxt is not None and nxt["seq"] == seq and nxt["prev"] == last_hash:
        return Problem("inserted", line, seq, f"line {line} (seq {seq}) was inserted: it does not chain from "
                                              "the record before it, and the next record does")
    if seq > expected:
        found = _find_seq(path, expected, line)
        if found is not None:
            return Problem("reordered", line, seq, f"line {line} holds seq {seq} where seq {expected} belongs; "
                                                    f"seq {expected} is at line {found}")
        gone = f"seq {expected}" if seq == expected + 1 else f"seq {expected}-{seq - 1}"
        return Problem("deleted", line, expected, f"{gone} deleted before line {line} (seq {seq})")
    if seq < expected:  # every seq below ``expected`` was already seen, in order
        return Problem("inserted", line, seq, f"line {line} repeats seq {seq} after seq {expected - 1}")
    return Problem("changed", line, seq, f"line {line} (seq {seq}) does not chain from seq {expected - 1}: "
                                         "a record was rewritten with a recomputed hash")


def _checkpoint_problem(rec: dict[str, Any], line: int, before: dict[str, Any] | None, last_checkpoint: int,
                        verify_key: Ed25519PublicKey | None) -> Problem | None:
    if before is None or rec.get("covers_seq") != before["seq"] or rec.get("covers_hash") != before["hash"]:
        return Problem("changed", line, rec["seq"], f"checkpoint at line {line} does not cover the record before it")
    if verify_key is None:
        return None
    try:
        verify_key.verify(base64.b64decode(rec["sig"]), _checkpoint_message(rec["covers_seq"], rec["covers_hash"]))
    except (InvalidSignature, ValueError):
        return Problem("changed", line, rec["seq"],
                       f"checkpoint seq {rec['seq']} has a bad signature: records after seq {last_checkpoint} up to "
                       f"seq {rec['covers_seq']} were rewritten (hashes recomputed without the signing key)")
    return None


def read_records(path: str | Path, keyring: Keyring | None = None) -> list[dict[str, Any]]:
    """Every record, decrypted when a key ring is given (verify first: this does not check the chain)."""
    out = []
    with open(path, "rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                rec = json.loads(line)
                out.append(decrypt(rec, keyring) if keyring is not None else rec)
    return out
