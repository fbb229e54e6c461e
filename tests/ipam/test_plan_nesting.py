"""The plan's overlap rule against a pairwise oracle: prefixes of a VRF nest or are disjoint,
no prefix appears twice, and nothing nests inside a pool range."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6ops.addr import Prefix
from v6ops.ipam.errors import PlanError
from v6ops.ipam.plan import PlannedPrefix, check_nesting

prefixes = st.builds(
    lambda length, index: Prefix(4, (10 << 24) + (index % (1 << (length - 8)) << (32 - length)), length),
    st.integers(8, 14), st.integers(0, 63),
)
entries = st.lists(st.tuples(prefixes, st.booleans(), st.sampled_from(["a", "b"])), max_size=12)


def oracle_ok(items: list[PlannedPrefix]) -> bool:
    for x, y in itertools.combinations(items, 2):
        if x.vrf != y.vrf or not x.prefix.overlaps(y.prefix):
            continue
        outer = x if x.prefix.length < y.prefix.length else y
        if x.prefix == y.prefix or outer.pool is not None:  # a range may sit in a container, not contain
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(entries)
def test_nesting_rule_matches_pairwise_oracle(raw: list[tuple[Prefix, bool, str]]) -> None:
    items = [PlannedPrefix(f"p{i}", vrf, prefix, "x", pool="pool" if is_range else None)
             for i, (prefix, is_range, vrf) in enumerate(raw)]
    if oracle_ok(items):
        check_nesting(items)
    else:
        with pytest.raises(PlanError):
            check_nesting(items)
