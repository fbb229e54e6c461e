"""ip6tables-restore / iptables-restore output, judged by the real restore tools in a throwaway namespace."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.policy.engine_helpers import strict_policy
from tests.policy.kernel.netns import run, throwaway_netns
from v6ops.policy.compile_iptables import compile_ip6tables, compile_iptables, compile_iptables4, hook_commands
from v6ops.policy.normalized import RAPolicy, ReversePath
from v6ops.policy.sysctl import sysctl_file


def _policies() -> list:  # type: ignore[type-arg]
    base = strict_policy()
    return [base, replace(base, name="open-ra", ra=RAPolicy()), replace(base, name="no-ra", ra=RAPolicy(block_all=True)),
            replace(base, name="loose", source=replace(base.source, reverse_path=ReversePath.LOOSE))]


def test_output_has_one_chain_set_per_vm_and_no_flush() -> None:
    text = compile_iptables(_policies())
    assert ":V6-strict - [0:0]" in text and ":V6-no-ra-RA - [0:0]" in text
    assert "-A V6-strict -m rt --rt-type 0 -j DROP" in text
    assert "-j NFQUEUE --queue-num 7" in text
    assert "-F" not in text.split()


@pytest.mark.requires("netns", "root", "iptables")
def test_ip6tables_restore_accepts_it() -> None:
    with throwaway_netns("ipt") as ns:
        run("ip6tables-restore", "--test", "--noflush", ns=ns, input_text=compile_ip6tables(_policies()))
        run("iptables-restore", "--test", "--noflush", ns=ns, input_text=compile_iptables4(_policies()))
        for _ in range(2):  # applying twice leaves one copy of everything
            run("ip6tables-restore", "--noflush", ns=ns, input_text=compile_ip6tables(_policies()))
            for command in hook_commands("ip6tables"):
                run("sh", "-c", command, ns=ns)
        listing = run("ip6tables-save", "-t", "filter", ns=ns)
        assert listing.count("-A INPUT -j V6OPS-INPUT") == 1
        assert listing.count("-A V6OPS-INPUT -j V6-strict") == 1


def test_sysctl_file_backs_the_policy() -> None:
    text = sysctl_file([strict_policy()])
    assert "net.ipv6.conf.default.accept_source_route = 0" in text
    assert "net.ipv4.conf.default.rp_filter = 1" in text
    assert "# RFC 5095" in text


def test_long_vm_names_get_distinct_chains() -> None:
    def chains(policy) -> set[str]:  # type: ignore[no-untyped-def]
        text = compile_ip6tables([policy])
        return {line[1:].split()[0] for line in text.splitlines() if line.startswith(":V6-")}

    a = chains(replace(strict_policy(), name="customer-0001-production-web"))
    b = chains(replace(strict_policy(), name="customer-0001-production-db"))
    assert a and b and not a & b
    assert max(len(c) for c in a | b) <= 28
