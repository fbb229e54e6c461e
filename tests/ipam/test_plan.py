"""Prefix plan: idempotent apply, diff first, and every kind of bad plan rejected with nothing changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.ipam.fixtures import PLAN
from tests.ipam.helpers import snapshot
from v6ops.ipam import service
from v6ops.ipam.errors import ForbiddenAddressError, PlanError
from v6ops.ipam.plan import load_plan, parse_plan
from v6ops.store.db import Store


def example() -> dict[str, Any]:
    return yaml.safe_load(PLAN.read_text())


def test_apply_is_idempotent(store: Store) -> None:
    plan = load_plan(PLAN)
    first = service.plan_apply(store, plan)
    assert {c["action"] for c in first} == {"create"}
    before = snapshot(store)
    again = service.plan_apply(store, plan)
    assert {c["action"] for c in again} == {"unchanged"}
    assert snapshot(store) == before  # not even a "plan-applied" event
    prefixes = {p["name"]: p for p in service.list_prefixes(store)}
    assert prefixes["region-a/city-1"]["parent_id"] == prefixes["region-a"]["id"]
    assert prefixes["city-1-residential/ipv6-delegation"]["parent_id"] == prefixes["region-a/city-1"]["id"]
    assert prefixes["city-1-residential/ipv6-delegation"]["total"] == 2**16  # /64s in a /48
    assert prefixes["mgmt-hosts/ipv4"]["total"] == 254  # a subnet keeps network and broadcast back


def test_diff_shows_updates_before_apply(planned: Store) -> None:
    raw = example()
    raw["pools"][0]["threshold"] = 90
    raw["prefixes"][0]["description"] = "new text"
    changes = service.plan_diff(planned, parse_plan(raw))
    updates = {c["name"]: c["detail"] for c in changes if c["action"] == "update"}
    assert updates == {"city-1-residential": "threshold_percent: 80 -> 90", "isp": "description: 'allocation from the RIR' -> 'new text'"}
    service.plan_apply(planned, parse_plan(raw))
    assert {c["action"] for c in service.plan_diff(planned, parse_plan(raw))} == {"unchanged"}


def _mutate(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(example())
    target: Any = raw
    *keys, last = path.split(".")
    for k in keys:
        target = target[int(k)] if k.isdigit() else target[k]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return raw


BAD_PLANS = [
    # prefix not on its boundary
    (_mutate("prefixes.0.children.0.prefix", "2001:db8::1/40"), PlanError, "host bits set"),
    # overlapping siblings
    (_mutate("prefixes.0.children.1.prefix", "2001:db8::/41"), PlanError, "siblings region-a 2001:db8::/40 and"),
    # child outside its parent
    (_mutate("prefixes.0.children.1.prefix", "2001:db9::/40"), PlanError, "is not inside its parent"),
    # pool range overlapping another pool range
    (_mutate("pools.1.ipv6_delegation.prefix", "2001:db8::/49"), PlanError, "overlaps pool range"),
    # documentation space without lab: true
    (_mutate("pools.0.lab", False), ForbiddenAddressError, "documentation space"),
    # link-local for customers
    (_mutate("pools.2.ipv6_delegation", {"prefix": "fe80::/48", "customer_length": 64}), ForbiddenAddressError,
     "link-local"),
    # CGN pool outside 100.64.0.0/10
    (_mutate("pools.0.ipv4.prefix", "192.168.0.0/16"), ForbiddenAddressError, "outside 100.64.0.0/10"),
    # unknown VRF
    (_mutate("pools.5.vrf", "nope"), PlanError, "VRF 'nope'"),
    # family policy without the ranges it needs
    (_mutate("pools.2.family_policy", "dual-stack"), PlanError, "needs ipv4"),
    # customer length shorter than the range
    (_mutate("pools.0.ipv6_delegation.customer_length", 40), PlanError, "customer_length /40"),
]


@pytest.mark.parametrize(("raw", "error", "words"), BAD_PLANS)
def test_bad_plan_is_rejected_and_changes_nothing(store: Store, raw: dict[str, Any], error: type, words: str) -> None:
    before = snapshot(store)
    with pytest.raises(error, match=words):
        service.plan_apply(store, parse_plan(raw))
    assert snapshot(store) == before


def test_new_prefix_overlapping_an_existing_pool_range_is_rejected(planned: Store) -> None:
    before = snapshot(planned)
    raw = example()
    city_1 = raw["prefixes"][0]["children"][0]["children"][0]
    city_1["children"] = [{"name": "rogue", "prefix": "2001:db8::/56", "role": "container"}]
    with pytest.raises(PlanError, match="rogue 2001:db8::/56 overlaps pool range city-1-residential/ipv6-delegation"):
        service.plan_apply(planned, parse_plan(raw))
    assert snapshot(planned) == before


def test_apply_refuses_to_move_an_existing_prefix(planned: Store) -> None:
    before = snapshot(planned)
    raw = _mutate("pools.3.ipv4.prefix", "100.127.1.0/24")
    with pytest.raises(PlanError, match="does not move or resize"):
        service.plan_apply(planned, parse_plan(raw))
    assert snapshot(planned) == before


def test_vrfs_keep_overlapping_private_space_apart(planned: Store) -> None:
    raw = example()
    raw["prefixes"].append({"name": "global-10", "prefix": "10.0.0.0/16", "role": "aggregate"})
    service.plan_apply(planned, parse_plan(raw))  # same prefix as mgmt-10, other VRF: fine
    raw["prefixes"].append({"name": "mgmt-10-again", "prefix": "10.0.0.0/16", "vrf": "mgmt", "role": "aggregate"})
    with pytest.raises(PlanError, match=r"mgmt-10 10\.0\.0\.0/16 and mgmt-10-again 10\.0\.0\.0/16 overlap"):
        service.plan_apply(planned, parse_plan(raw))
