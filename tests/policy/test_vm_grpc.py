"""gRPC VmService on a real server (loopback port), every operation, INVALID_ARGUMENT field paths,
and the same stored object as the REST API for the same config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2, json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import select

from tests.api_client import api_client
from tests.policy.vm_fixtures import web_config
from v6ops.api.app import create_app
from v6ops.events.audit import AuditLog, read_records
from v6ops.policy.vmrpc import vm_service_pb2 as pb
from v6ops.policy.vmrpc import vm_service_pb2_grpc as pb_grpc
from v6ops.policy.vmrpc.server import serve
from v6ops.policy.vms import VmSecurityService
from v6ops.settings import Settings
from v6ops.store.db import open_store
from v6ops.store.security_models import SecurityVm


@pytest.fixture
def rpc(vm_db_url: str, tmp_path: Path):
    store = open_store(vm_db_url)
    audit = AuditLog(tmp_path / "audit.jsonl")
    service = VmSecurityService(store, audit)
    server, port = serve(service)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield pb_grpc.VmServiceStub(channel), service, vm_db_url
    channel.close()
    server.stop(None)
    audit.close()
    open_store.cache_clear()


def ipv6(config: dict) -> pb.IPv6Config:
    return json_format.ParseDict(config, pb.IPv6Config())


def bad_request(exc: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(exc)
    assert status is not None
    out = []
    for detail in status.details:
        br = error_details_pb2.BadRequest()
        assert detail.Unpack(br)
        out += [(v.field, v.description) for v in br.field_violations]
    return out


def create(stub, vm_id="vm-1", customer="acme", tier="premium", **security):
    return stub.CreateVm(pb.CreateVmRequest(vm_id=vm_id, customer_id=customer, tier=tier, name=vm_id,
                                            config=pb.VmConfig(ipv6_config=ipv6(web_config(**security))))).vm


def test_every_operation(rpc):
    stub, _, _ = rpc
    vm = create(stub)
    assert vm.version == 1 and vm.profile == "HIGH"
    assert vm.ipv6_config.security.profile == pb.SECURITY_PROFILE_HIGH
    assert vm.ipv6_config.security.monitoring.siem_config.auth_token == "**********"
    assert vm.ipv6_config.interface.vlan.vlan_id == 100
    with pytest.raises(grpc.RpcError) as info:
        create(stub)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    sec = stub.GetVmNetworkSecurity(pb.GetVmNetworkSecurityRequest(vm_id="vm-1"))
    assert list(sec.security.ra_guard.allowed_routers) == ["fe80::1"] and sec.version == 1
    # partial update with a field mask: only max_ra_rate changes
    req = pb.UpdateVmNetworkSecurityRequest(vm_id="vm-1", security=pb.IPv6SecurityConfig(
        ra_guard=pb.RAGuardConfig(max_ra_rate=3, enabled=False)),
        update_mask=field_mask_pb2.FieldMask(paths=["ra_guard.max_ra_rate"]), expected_version=1)
    v2 = stub.UpdateVmNetworkSecurity(req).vm
    assert v2.version == 2 and v2.ipv6_config.security.ra_guard.max_ra_rate == 3
    assert v2.ipv6_config.security.ra_guard.enabled  # not in the mask: kept
    with pytest.raises(grpc.RpcError) as info:
        stub.UpdateVmNetworkSecurity(req)  # expected_version 1 is stale
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # whole-section replace
    whole = json_format.ParseDict(web_config(profile="SECURITY_PROFILE_MEDIUM")["security"], pb.IPv6SecurityConfig())
    v3 = stub.UpdateVmNetworkSecurity(pb.UpdateVmNetworkSecurityRequest(vm_id="vm-1", security=whole)).vm
    assert v3.version == 3 and v3.profile == "MEDIUM"
    v4 = stub.ReplaceVm(pb.ReplaceVmRequest(vm_id="vm-1", config=pb.VmConfig(ipv6_config=ipv6(web_config()))))
    assert v4.version == 4 and v4.profile == "HIGH"
    assert stub.GetVm(pb.GetVmRequest(vm_id="vm-1")).version == 4
    hist = stub.GetVmHistory(pb.GetVmHistoryRequest(vm_id="vm-1")).versions
    assert [(h.version, h.action) for h in hist] == [(1, "create"), (2, "patch"), (3, "replace"), (4, "replace")]
    at = stub.GetVmHistory(pb.GetVmHistoryRequest(vm_id="vm-1", at=hist[1].created_at)).versions
    assert [v.version for v in at] == [2]
    v5 = stub.RollbackVm(pb.RollbackVmRequest(vm_id="vm-1", version=2))
    assert v5.version == 5 and v5.compiled_sha256 == v2.compiled_sha256
    for n in range(2, 6):
        create(stub, f"vm-{n}", customer="acme" if n % 2 else "globex")
    page = stub.ListVms(pb.ListVmsRequest(page_size=2))
    assert [v.id for v in page.vms] == ["vm-1", "vm-2"] and page.total == 5 and page.next_page_token == "2"
    page = stub.ListVms(pb.ListVmsRequest(page_size=2, page_token=page.next_page_token, customer_id="acme"))
    assert [v.id for v in page.vms] == ["vm-5"] and page.total == 3 and page.next_page_token == ""
    with pytest.raises(grpc.RpcError) as info:
        stub.ListVms(pb.ListVmsRequest(page_token="zzz"))
    assert bad_request(info.value)[0][0] == "page_token"
    stub.DeleteVm(pb.DeleteVmRequest(vm_id="vm-2"))
    with pytest.raises(grpc.RpcError) as info:
        stub.GetVm(pb.GetVmRequest(vm_id="vm-2"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_invalid_argument_with_field_paths(rpc):
    stub, _, _ = rpc
    bad = web_config(ra_guard={"enabled": True, "allowed_routers": ["2001:db8::1"]})
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateVm(pb.CreateVmRequest(vm_id="vm-x", customer_id="acme", config=pb.VmConfig(ipv6_config=ipv6(bad))))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [f for f, _ in bad_request(info.value)]
    assert any(f.startswith("config.ipv6_config.security.ra_guard.allowed_routers") for f in fields), fields
    create(stub)
    req = pb.UpdateVmNetworkSecurityRequest(vm_id="vm-1", security=pb.IPv6SecurityConfig(
        source_validation=pb.SourceValidationConfig(allowed_ingress_prefixes=["2001:db8::/200"])),
        update_mask=field_mask_pb2.FieldMask(paths=["source_validation.allowed_ingress_prefixes"]))
    with pytest.raises(grpc.RpcError) as info:
        stub.UpdateVmNetworkSecurity(req)
    fields = [f for f, _ in bad_request(info.value)]
    assert any(f.startswith("security.source_validation.allowed_ingress_prefixes") for f in fields), fields
    req.update_mask.paths[:] = ["ra_guard.no_such_field"]
    with pytest.raises(grpc.RpcError) as info:
        stub.UpdateVmNetworkSecurity(req)
    assert bad_request(info.value) == [("update_mask.paths[0]", "unknown field 'ra_guard.no_such_field'")]
    assert stub.GetVm(pb.GetVmRequest(vm_id="vm-1")).version == 1  # nothing stored by the failures
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateVm(pb.CreateVmRequest(vm_id="", customer_id="acme"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_same_config_same_stored_object_through_rest_and_grpc(rpc, tmp_path):
    stub, service, url = rpc
    config = web_config(rate_limits={"max_pps_per_vm": 10000, "max_bandwidth_per_vm": 1073741824,
                                     "method": "RATE_LIMIT_METHOD_TOKEN_BUCKET"},
                        extension_headers={"mode": "SELECTIVE", "allowed_types": [0, 6, 17, 44],
                                           "fragment_policy": "reassemble"})
    stub.CreateVm(pb.CreateVmRequest(vm_id="via-grpc", customer_id="acme",
                                     config=pb.VmConfig(ipv6_config=ipv6(json_format.MessageToDict(
                                         ipv6(_proto_spelling(config)), preserving_proto_field_name=True)))))
    app = create_app(Settings(data_dir=tmp_path / "rest", database_url=url))
    with api_client(app) as client:
        r = client.post("/api/v1/vms", json={"id": "via-rest", "customer_id": "acme", "config": {"ipv6_config": config}})
        assert r.status_code == 201, r.text
    with service.store.read() as session:
        rows = {r.id: r for r in session.scalars(select(SecurityVm))}
    assert rows["via-grpc"].ipv6_config == rows["via-rest"].ipv6_config
    assert rows["via-grpc"].compiled_sha256 != "" and rows["via-grpc"].profile == rows["via-rest"].profile
    # the tables differ only by the VM name in them
    assert rows["via-grpc"].compiled.replace("via-grpc", "X").replace("via_grpc", "X") == \
        rows["via-rest"].compiled.replace("via-rest", "X").replace("via_rest", "X")
    audit = [r for r in read_records(tmp_path / "audit.jsonl") if r["kind"] == "change"]
    assert audit[0]["target"] == "vm/via-grpc" and audit[0]["actor"].startswith("anonymous@ipv")


def _proto_spelling(config: dict) -> dict:
    """The enum spellings a protobuf client sends (full proto names)."""
    out = json_format.MessageToDict(json_format.ParseDict(_fix(config), pb.IPv6Config()),
                                    preserving_proto_field_name=True)
    return out


def _fix(config: dict) -> dict:
    import copy
    c = copy.deepcopy(config)
    c["security"]["extension_headers"]["mode"] = "EXTENSION_HEADER_MODE_SELECTIVE"
    c["security"]["extension_headers"]["fragment_policy"] = "FRAGMENT_POLICY_REASSEMBLE"
    c["security"]["monitoring"]["siem_config"]["log_format"] = "CEF"
    return c


def test_generated_code_is_current(tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{root / 'src'}", f"--python_out={tmp_path}",
                          f"--grpc_python_out={tmp_path}", str(root / "src/v6ops/policy/vmrpc/vm_service.proto")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("vm_service_pb2.py", "vm_service_pb2_grpc.py"):
        generated = (tmp_path / "v6ops/policy/vmrpc" / name).read_text()
        committed = (root / "src/v6ops/policy/vmrpc" / name).read_text()
        assert _versionless(generated) == _versionless(committed), f"{name} is stale: run scripts/gen-grpc"


def _versionless(text: str) -> str:
    """Generated code without the lines that name the generator's version."""
    skip = ("Protobuf Python Version", "GRPC_GENERATED_VERSION =", "_runtime_version.ValidateProtobufRuntimeVersion")
    return "\n".join(line for line in text.splitlines() if not any(s in line for s in skip))


def test_vm_grpc_command_serves_until_sigterm(tmp_path):
    import os
    import signal

    from tests.ipam.server import free_port

    port = free_port()
    env = {**os.environ, "V6OPS_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "V6OPS_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "v6ops.cli", "policy", "vm-grpc", "--listen", f"127.0.0.1:{port}"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert "VmService listening on 127.0.0.1:" in proc.stderr.readline()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.VmServiceStub(channel)
            assert create(stub).version == 1
            assert stub.ListVms(pb.ListVmsRequest()).total == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    changes = [r for r in read_records(tmp_path / "audit.jsonl") if r["kind"] == "change"]
    assert [c["action"] for c in changes] == ["create"]
