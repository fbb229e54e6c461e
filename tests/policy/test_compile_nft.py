"""The nftables compiler: every seed example compiles and passes ``nft -c``; tables replace atomically."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.policy.engine_helpers import strict_policy, with_xt_guard
from tests.policy.kernel.netns import nft_check, run, throwaway_netns
from v6ops.addr import Prefix
from v6ops.policy.compile_nft import compile_ruleset, compile_table, xt_guard_rules
from v6ops.policy.normalize import normalize_document
from v6ops.policy.normalized import GuardPolicy, InterTenant, QueueBackend, RAPolicy
from v6ops.policy.validate import load_validated

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
ENV = {"SIEM_AUTH_TOKEN": "example-token"}
SEEDS = sorted(p for p in EXAMPLES.glob("*.*") if p.suffix in (".json", ".yaml"))


def _seed_policies() -> list:  # type: ignore[type-arg]
    out = []
    for path in SEEDS:
        out += normalize_document(load_validated(path, environ=ENV))
    return out


def test_every_seed_example_compiles_to_one_table_per_target() -> None:
    assert len(SEEDS) >= 10
    policies = _seed_policies()
    text = compile_ruleset(policies)
    tables = re.findall(r"^table inet (\S+) \{$", text, re.M)
    assert sorted(tables) == sorted(p.table for p in policies)
    assert "flush ruleset" not in text
    assert "ip6 nexthdr" not in text  # upper layers via meta l4proto only
    for p in policies:
        assert f"table inet {p.table} {{}}\ndelete table inet {p.table}\n" in text


@pytest.mark.requires("netns", "nft")
def test_every_seed_example_passes_nft_check_with_the_xt_guard() -> None:
    nft_check(compile_ruleset(with_xt_guard(p) for p in _seed_policies()), "seeds")


@pytest.mark.requires("netns", "nft", "nft-queue")
def test_every_seed_example_passes_nft_check_with_the_native_queue() -> None:
    policies = _seed_policies()
    assert any(p.guard.backend is QueueBackend.NFT for p in policies)
    nft_check(compile_ruleset(policies), "seeds-native")


def test_multi_tenant_isolation_uses_the_other_tenants_prefixes() -> None:
    doc = load_validated(EXAMPLES / "ipv6-multi-tenant.yaml", environ=ENV)
    a, _ = normalize_document(doc)
    assert a.isolation.inter_tenant is InterTenant.BLOCK_ALL
    assert a.isolation.tenant == "customer-001" and a.isolation.vlan == 1001
    isolated = replace(a, isolation=replace(a.isolation, other_tenant_prefixes=(Prefix.parse("2001:db8:2::/48"),)))
    text = compile_table(isolated)
    assert "set tenants6 { type ipv6_addr; flags interval; elements = { 2001:db8:2::/48 } }" in text
    assert "ip6 saddr @tenants6 counter name isolation_inter_tenant drop" in text


def test_guard_queue_backends_and_fail_closed_default() -> None:
    native = compile_table(strict_policy(guard=GuardPolicy(queue_num=3)))
    assert "meta mark & 0x400000 == 0x400000 queue num 3\n" in native  # no bypass: fail closed
    bypass = compile_table(strict_policy(guard=GuardPolicy(queue_num=3, bypass=True)))
    assert "queue num 3 bypass" in bypass
    xt = strict_policy(guard=GuardPolicy(queue_num=5, backend=QueueBackend.XT))
    assert "queue num" not in compile_table(xt)
    assert "-j NFQUEUE --queue-num 5\n" in xt_guard_rules(xt)
    assert "--queue-bypass" in xt_guard_rules(replace(xt, guard=replace(xt.guard, bypass=True)))


def test_ra_guard_without_router_list_or_disabled() -> None:
    any_router = compile_table(strict_policy(ra=RAPolicy()))
    assert "@routers6" not in any_router and "chain ra_guard" in any_router
    off = compile_table(strict_policy(ra=RAPolicy(enabled=False)))
    assert "chain ra_guard {\n\t\tcounter name rfc4890_4_3_3_nd goto deliver\n\t}" in off


@pytest.mark.requires("netns", "nft")
def test_table_is_replaced_atomically_and_nothing_else_is_touched() -> None:
    policy = with_xt_guard(strict_policy())
    text = compile_table(policy)
    other = "table inet someone_else {\n\tchain c { type filter hook input priority 0; }\n}\n"
    with throwaway_netns("atomic") as ns:
        run("nft", "-f", "-", ns=ns, input_text=other)
        run("nft", "-f", "-", ns=ns, input_text=text)  # table absent: the create+delete idiom still works
        run("nft", "-f", "-", ns=ns, input_text=text)  # present: replaced in one transaction
        listing = json.loads(run("nft", "-j", "list", "tables", ns=ns))
        names = sorted(t["table"]["name"] for t in listing["nftables"] if "table" in t)
        assert names == sorted(["someone_else", policy.table])
        counters = json.loads(run("nft", "-j", "list", "counters", "table", "inet", policy.table, ns=ns))
        assert {c["counter"]["name"] for c in counters["nftables"] if "counter" in c} >= {"rfc5095_rh0",
                                                                                          "bcp38_spoofed_source"}
        broken = text.replace("rt type 0", "rt type zero")
        with pytest.raises(RuntimeError):
            run("nft", "-f", "-", ns=ns, input_text=broken)
        still = run("nft", "list", "table", "inet", policy.table, ns=ns)
        assert "rt type 0" in still  # a failed load leaves the old table in place


def _many_vms() -> str:
    base = with_xt_guard(strict_policy())
    return compile_ruleset([replace(base, name=f"vm{i}") for i in range(40)])


def test_many_vm_policies_compile_to_one_table_each() -> None:
    text = _many_vms()
    assert len(re.findall(r"^delete table inet v6ops_vm\d+$", text, re.M)) == 40
    assert text.count("set bogon6 {") == 40  # the registry-derived sets are in every table


@pytest.mark.requires("netns", "nft")
def test_many_vm_policies_pass_nft_check() -> None:
    nft_check(_many_vms(), "many")


@pytest.mark.requires("netns", "nft")
def test_variants_pass_nft_check() -> None:
    base = strict_policy()
    variants = [
        replace(base, name="iso", isolation=replace(base.isolation, inter_tenant=InterTenant.BLOCK_ALL,
                                                    other_tenant_prefixes=(Prefix.parse("2001:db8:2::/48"),
                                                                           Prefix.parse("198.51.100.0/24")))),
        replace(base, name="anyrouter", ra=RAPolicy()),
        replace(base, name="raoff", ra=RAPolicy(enabled=False)),
        replace(base, name="open", services=None, interface="tap0"),
        replace(base, name="bypass", guard=GuardPolicy(queue_num=3, bypass=True)),
    ]
    nft_check("".join(compile_table(with_xt_guard(p)) for p in variants), "variants")


@pytest.mark.requires("netns", "nft", "nft-queue")
def test_variants_pass_nft_check_with_the_native_queue() -> None:
    base = strict_policy(guard=GuardPolicy(queue_num=7))
    assert base.guard.backend is QueueBackend.NFT
    nft_check(compile_table(base) + compile_table(replace(base, name="bypass", guard=GuardPolicy(queue_num=3, bypass=True))),
              "native")


def test_cli_compile_formats_and_errors(tmp_path: Path) -> None:
    seed = EXAMPLES / "ipv6-multi-tenant.yaml"
    env = {"SIEM_AUTH_TOKEN": "t", "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "v6ops.cli", "policy", "compile", "--policy", str(seed)]
    done = subprocess.run([*cli, "--json", "--target", "customer-001"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tables"] == ["v6ops_customer_001"] and "table inet v6ops_customer_001" in report["text"]
    sysctl = subprocess.run([*cli, "--format", "sysctl"], capture_output=True, text=True, env=env)
    assert "net.ipv6.conf.br-cust-001.accept_source_route = 0" in sysctl.stdout
    bad = subprocess.run([*cli, "--tcp-ports", "22,http"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "'http' is not a port number" in bad.stderr
    unknown = subprocess.run([*cli, "--target", "nobody"], capture_output=True, text=True, env=env)
    assert unknown.returncode == 2 and "no target named 'nobody'" in unknown.stderr
    invalid = tmp_path / "bad.yaml"
    invalid.write_text("ra_guard:\n  block_all_ra: true\n  allowed_routers: ['fe80::1']\n")
    refused = subprocess.run([sys.executable, "-m", "v6ops.cli", "policy", "compile", "--policy", str(invalid)],
                             capture_output=True, text=True, env=env)
    assert refused.returncode == 1 and "nothing was applied" in refused.stderr
    assert "table inet" not in refused.stdout


def test_host_plan_lists_namespace_bridge_vlan_and_routes() -> None:
    from v6ops.policy.hostplan import host_plan

    doc = load_validated(EXAMPLES / "ipv6-multi-tenant.yaml", environ=ENV)
    steps = host_plan(normalize_document(doc)[0])
    commands = [s.shell for s in steps]
    assert "ip netns add customer-001" in commands
    assert "ip link add br-cust-001 type bridge vlan_filtering 1" in commands
    assert "bridge vlan add dev br-cust-001 vid 1001 self" in commands


def test_two_targets_cannot_share_a_table() -> None:
    with pytest.raises(ValueError, match="'customer-001' and 'customer_001' would share nftables table"):
        compile_ruleset([replace(strict_policy(), name="customer-001"), replace(strict_policy(), name="customer_001")])
