import json

from typer.testing import CliRunner

from tests.events.test_audit import write_log
from v6ops.cli.main import app
from v6ops.events.audit import Keyring, load_signing_key, load_verify_key

runner = CliRunner()


def test_audit_log_cli_verify_clean_and_tampered(tmp_path):
    sign = tmp_path / "sign.pem"
    out = runner.invoke(app, ["policy", "audit-log", "keygen", str(sign), "--json"])
    assert out.exit_code == 0, out.output
    pub = json.loads(out.stdout)["public_key"]
    keyfile = tmp_path / "aes.keys"
    out = runner.invoke(app, ["policy", "audit-log", "rotate-key", str(keyfile), "--key-id", "k1", "--json"])
    assert json.loads(out.stdout)["current"] == "k1"
    path = write_log(tmp_path / "audit.jsonl", (load_signing_key(sign), load_verify_key(pub), keyfile))
    assert Keyring.load(keyfile).current == "k1"
    args = ["policy", "audit-log", "verify", str(path), "--public-key", pub, "--key-file", str(keyfile), "--json"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["ok"] is True
    ls = path.read_bytes().split(b"\n")
    ls[2], ls[3] = ls[3], ls[2]
    path.write_bytes(b"\n".join(ls))
    out = runner.invoke(app, args)
    assert out.exit_code == 1
    assert json.loads(out.stdout)["problem"]["kind"] == "reordered"
    out = runner.invoke(app, ["policy", "audit-log", "verify", str(tmp_path / "missing.jsonl")])
    assert out.exit_code == 2 and "cannot be read" in out.output
    out = runner.invoke(app, ["policy", "audit-log", "keygen", str(sign)])
    assert out.exit_code == 2 and "already exists" in out.output
