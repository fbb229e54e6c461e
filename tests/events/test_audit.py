import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6ops.events import SecurityEvent
from v6ops.events.audit import (
    AuditLog,
    AuditLogError,
    Keyring,
    encode_record,
    generate_signing_key,
    load_signing_key,
    load_verify_key,
    read_records,
    rotate_key,
    verify,
)


def ev(n):
    return SecurityEvent(timestamp=datetime(2026, 1, 1, tzinfo=UTC), event_id=f"e{n}", vm_id="vm-1",
                         customer_id="acme", event_type="ra_blocked", severity="error", source_ip="fe80::1",
                         details={"rule": "rfc6105-unknown-router", "n": n})


@pytest.fixture
def keys(tmp_path):
    signing = tmp_path / "sign.pem"
    pub = generate_signing_key(signing)
    keyfile = tmp_path / "aes.keys"
    rotate_key(keyfile, "k1")
    return load_signing_key(signing), load_verify_key(pub), keyfile


def write_log(path, keys, n=20, every=5):
    sk, _, keyfile = keys
    log = AuditLog(path, keyring=Keyring.load(keyfile), signing_key=sk, checkpoint_every=every)
    for i in range(n):
        if i % 4 == 0:
            log.change("alice", "patch", f"vm/vm-{i}", {"ra_guard": {"enabled": False}}, {"ra_guard": {"enabled": True}})
        else:
            log.emit(ev(i))
    log.close()
    return path


def lines(path):
    return path.read_bytes().split(b"\n")[:-1]


def put(path, ls):
    path.write_bytes(b"".join(x + b"\n" for x in ls))


def test_clean_log_verifies_and_decrypts(tmp_path, keys):
    path = write_log(tmp_path / "audit.jsonl", keys)
    _, vk, keyfile = keys
    report = verify(path, vk, Keyring.load(keyfile))
    assert report.ok and report.sealed and report.signatures_checked, report.as_dict()
    assert report.checkpoints == 5 and report.decrypted == 20
    recs = read_records(path, Keyring.load(keyfile))
    change = next(r for r in recs if r["kind"] == "change")
    assert change["actor"] == "alice" and change["after"] == {"ra_guard": {"enabled": True}}
    raw = path.read_text()
    assert "rfc6105-unknown-router" not in raw and "alice" in raw  # details encrypted, who/what in clear


def test_one_byte_changed(tmp_path, keys):
    path = write_log(tmp_path / "a.jsonl", keys)
    data = bytearray(path.read_bytes())
    pos = data.index(b'"actor":"alice"') + 10
    data[pos] = ord("A")
    path.write_bytes(bytes(data))
    p = verify(path).problem
    assert p.kind == "changed" and p.line == 2


def test_record_deleted(tmp_path, keys):
    path = write_log(tmp_path / "a.jsonl", keys)
    ls = lines(path)
    put(path, ls[:3] + ls[4:])
    p = verify(path).problem
    assert (p.kind, p.seq, p.line) == ("deleted", 4, 4)


def test_two_records_swapped(tmp_path, keys):
    path = write_log(tmp_path / "a.jsonl", keys)
    ls = lines(path)
    ls[2], ls[3] = ls[3], ls[2]
    put(path, ls)
    p = verify(path).problem
    assert (p.kind, p.line) == ("reordered", 3)


def test_record_inserted_with_a_valid_looking_hash(tmp_path, keys):
    """The forger copies the chain fields of the record it precedes and recomputes the hash."""
    path = write_log(tmp_path / "a.jsonl", keys)
    ls = lines(path)
    real = json.loads(ls[5])
    forged = {"kind": "change", "ts": real["ts"], "actor": "mallory", "action": "delete", "target": "vm/x",
              "seq": real["seq"], "prev": real["prev"]}
    put(path, [*ls[:5], encode_record(forged)[0], *ls[5:]])
    p = verify(path).problem
    assert (p.kind, p.line) == ("inserted", 6)


def test_record_inserted_at_a_fresh_seq(tmp_path, keys):
    path = write_log(tmp_path / "a.jsonl", keys)
    ls = lines(path)
    prev = json.loads(ls[5])
    forged = {"kind": "change", "ts": prev["ts"], "actor": "mallory", "seq": prev["seq"] + 1, "prev": prev["hash"]}
    put(path, [*ls[:6], encode_record(forged)[0], *ls[6:]])
    p = verify(path).problem
    assert (p.kind, p.line) == ("inserted", 7)


def test_tail_truncated_at_a_record_boundary_and_mid_record(tmp_path, keys):
    path = write_log(tmp_path / "a.jsonl", keys)
    ls = lines(path)
    put(path, ls[:-3])
    r = verify(path)
    assert r.truncated and r.problem.kind == "truncated" and not r.ok
    # cut exactly after a checkpoint: the anchor still knows the real end
    cp = max(i for i, x in enumerate(ls[:-1]) if json.loads(x)["kind"] == "checkpoint")
    put(path, ls[:cp + 1])
    r = verify(path)
    assert r.truncated and r.problem.kind == "truncated"
    path.write_bytes(b"".join(x + b"\n" for x in ls) + ls[0][:30])
    r = verify(path)
    assert r.truncated and r.problem.kind == "truncated" and "partial" in r.problem.message


def test_full_rewrite_with_recomputed_hashes_fails_the_signature(tmp_path, keys):
    path = write_log(tmp_path / "a.jsonl", keys)
    recs = [json.loads(x) for x in lines(path)]
    recs[1]["actor"] = "mallory"
    prev = recs[0]["hash"]
    recs[0]["line"] = lines(path)[0]
    for r in recs[1:]:  # recompute every hash and checkpoint coverage, but not the signatures
        r["prev"] = prev
        if r["kind"] == "checkpoint":
            r["covers_hash"] = prev
        r.pop("hash")
        line, prev = encode_record(r)
        r["line"] = line
    put(path, [r["line"] for r in recs])
    _, vk, _ = keys
    p = verify(path, vk).problem
    assert p.kind == "changed" and "bad signature" in p.message and p.seq == 6
    assert verify(path).problem.kind == "changed"  # without the key, the anchor still disagrees


def test_wrong_key(tmp_path, keys):
    path = write_log(tmp_path / "a.jsonl", keys)
    wrong = tmp_path / "wrong.keys"
    wrong.write_text(f"k1 {base64.b64encode(bytes(32)).decode()}\n")
    p = verify(path, keyring=Keyring.load(wrong)).problem
    assert p.kind == "wrong_key" and "k1" in p.message and p.seq == 2  # seq 1 names the key
    with pytest.raises(AuditLogError, match="wrong key"):
        read_records(path, Keyring.load(wrong))
    missing = tmp_path / "other.keys"
    rotate_key(missing, "k9")
    assert "not in the key ring" in verify(path, keyring=Keyring.load(missing)).problem.message


def test_key_rotation_and_resume(tmp_path, keys):
    sk, vk, keyfile = keys
    path = write_log(tmp_path / "a.jsonl", keys, n=6)
    rotate_key(keyfile, "k2")
    log = AuditLog(path, keyring=Keyring.load(keyfile), signing_key=sk, checkpoint_every=5)
    log.emit(ev(100))
    log.close()
    recs = read_records(path, Keyring.load(keyfile))
    assert [r["key_id"] for r in recs if r["kind"] == "key"] == ["k1", "k2"]
    assert recs[-2]["details"]["n"] == 100
    assert json.loads(lines(path)[-2])["enc"]["kid"] == "k2"
    r = verify(path, vk, Keyring.load(keyfile))
    assert r.ok, r.as_dict()
    # only the new key: old records cannot be read, and the verifier says which
    only_new = tmp_path / "new.keys"
    only_new.write_text(keyfile.read_text().splitlines()[-1] + "\n")
    assert verify(path, vk, Keyring.load(only_new)).problem.kind == "wrong_key"


def test_refuses_to_append_after_a_torn_record(tmp_path, keys):
    path = write_log(tmp_path / "a.jsonl", keys, n=3)
    with open(path, "ab") as fh:
        fh.write(b'{"kind":"ev')
    with pytest.raises(AuditLogError, match="partial record"):
        AuditLog(path)


def test_bad_key_files(tmp_path):
    bad = tmp_path / "k"
    bad.write_text("k1 notbase64!!\n")
    with pytest.raises(AuditLogError, match="not base64"):
        Keyring.load(bad)
    bad.write_text("k1 " + base64.b64encode(b"short").decode())
    with pytest.raises(AuditLogError, match="5 bytes"):
        Keyring.load(bad)


def test_keys_from_environment(monkeypatch):
    monkeypatch.setenv("V6OPS_AUDIT_KEYS", f"a:{base64.b64encode(bytes(32)).decode()},b:{base64.b64encode(bytes([1]) * 32).decode()}")
    ring = Keyring.load()
    assert ring.current == "b" and set(ring.keys) == {"a", "b"}


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_single_byte_change_is_found(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("prop")
    path = tmp / "a.jsonl"
    log = AuditLog(path, checkpoint_every=3)
    for i in range(6):
        log.emit(ev(i))
    log.close()
    raw = bytearray(path.read_bytes())
    pos = data.draw(st.integers(0, len(raw) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]))
    raw[pos] = new
    path.write_bytes(bytes(raw))
    assert not verify(path).ok
