"""The buddy free-space index against a brute-force oracle that knows nothing of buddies."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from v6ops.addr import Address, Prefix
from v6ops.ipam.bounds import usable_blocks
from v6ops.ipam.freespace import FreeSpace
from v6ops.store.db import Store
from v6ops.store.models import PlanPrefix, Vrf
from v6ops.store.types import network_key

_names = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.requires("postgres"))])
def fs_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Every example runs in a transaction that is rolled back, so one store serves the module."""
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('fs')) / 'fs.db'}"
    else:
        url = request.getfixturevalue("postgres_session_url")
    store = Store(url)
    store.migrate()
    yield store
    store.close()


def new_range(session: Session, prefix: Prefix, customer_length: int, all_usable: bool = True) -> FreeSpace:
    n = next(_names)
    vrf = Vrf(name=f"v{n}")
    session.add(vrf)
    session.flush()
    row = PlanPrefix(vrf_id=vrf.id, name=f"r{n}", family=prefix.version,
                     network=network_key(prefix.version, prefix.network), length=prefix.length, cidr=str(prefix),
                     role="test", customer_length=customer_length, all_usable=all_usable)
    session.add(row)
    session.flush()
    space = FreeSpace(session, row.id, prefix, customer_length)
    space.seed(usable_blocks(prefix, all_usable))
    return space


def oracle_first_fit(parent: Prefix, taken: set[tuple[int, int]], length: int, excluded: set[int]) -> int | None:
    """Scan every aligned /length in order; the first one that overlaps nothing taken or excluded."""
    size = 1 << (parent.width - length)
    for net in range(parent.network, parent.broadcast + 1, size):
        if any(e in range(net, net + size) for e in excluded):
            continue
        if all(net + size <= n or n + (1 << (parent.width - ln)) <= net for n, ln in taken):
            return net
    return None


ops = st.lists(
    st.one_of(st.tuples(st.just("alloc"), st.integers(0, 8)), st.tuples(st.just("free"), st.integers(0, 10**6))),
    min_size=1, max_size=60,
)


@pytest.mark.parametrize("parent_text", ["192.0.2.0/24", "2001:db8::/120"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops, all_usable=st.booleans())
def test_first_fit_matches_oracle_and_never_overlaps(
    fs_store: Store, parent_text: str, sequence: list[tuple[str, int]], all_usable: bool
) -> None:
    parent = Prefix.parse(parent_text)
    # The oracle applies the usable-bounds rule itself: RFC 3021 / RFC 4291 2.6.1.
    excluded = set() if all_usable else (
        {parent.network, parent.broadcast} if parent.version == 4 else {parent.network}
    )
    with fs_store.write() as session:
        space = new_range(session, parent, parent.width, all_usable)
        taken: set[tuple[int, int]] = set()
        used = 0
        for op, arg in sequence:
            if op == "alloc":
                length = parent.length + arg
                expected = oracle_first_fit(parent, taken, length, excluded)
                got = space.take_first(length)
                assert got == expected
                if got is not None:
                    taken.add((got, length))
                    used += 1 << (parent.width - length)
            elif taken:
                net, length = sorted(taken)[arg % len(taken)]
                taken.remove((net, length))
                used -= 1 << (parent.width - length)
                space.give_back(Prefix(parent.version, net, length))
            # Free blocks exactly cover the complement of taken + excluded, and are maximal (merged).
            free = space.blocks()
            free_addrs = sum(b.num_addresses for b in free)
            assert free_addrs == parent.num_addresses - used - len(excluded)
            assert -space.unit_delta == free_addrs  # customer size is one address here
            keys = {(b.network, b.length) for b in free}
            for b in free:
                assert b.length == parent.length or (b.network ^ (1 << (parent.width - b.length)), b.length) not in keys
        session.rollback()


def test_take_exact_and_conflicts(fs_store: Store) -> None:
    parent = Prefix.parse("2001:db8::/48")
    with fs_store.write() as session:
        space = new_range(session, parent, 64)
        assert space.take_exact(Prefix.parse("2001:db8:0:5::/64"))
        assert not space.take_exact(Prefix.parse("2001:db8:0:4::/62"))  # overlaps the /64 above
        assert not space.take_exact(Prefix.parse("2001:db8:0:5::/64"))
        assert space.take_first(64) == Prefix.parse("2001:db8::/64").network
        assert space.available(64, 5) == [Prefix.parse(f"2001:db8:0:{i}::/64") for i in (1, 2, 3, 4, 6)]
        space.give_back(Prefix.parse("2001:db8:0:5::/64"))
        space.give_back(Prefix.parse("2001:db8::/64"))
        assert space.blocks() == [parent]
        session.rollback()


@pytest.mark.parametrize(
    ("text", "all_usable", "first", "last"),
    [
        ("10.0.0.0/24", False, "10.0.0.1", "10.0.0.254"),  # network and broadcast kept back
        ("10.0.0.0/31", False, "10.0.0.0", "10.0.0.1"),  # RFC 3021: both usable on a /31
        ("10.0.0.5/32", False, "10.0.0.5", "10.0.0.5"),
        ("10.0.0.0/24", True, "10.0.0.0", "10.0.0.255"),  # a pool: every address
        ("2001:db8::/64", False, "2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff"),  # RFC 4291 2.6.1
        ("2001:db8::/127", False, "2001:db8::", "2001:db8::1"),  # RFC 6164
        ("2001:db8::/64", True, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"),
    ],
)
def test_usable_bounds(text: str, all_usable: bool, first: str, last: str) -> None:
    blocks = usable_blocks(Prefix.parse(text), all_usable)
    assert Address(blocks[0].version, blocks[0].network) == Address.parse(first)
    assert blocks[-1].last == Address.parse(last)
    assert sum(b.num_addresses for b in blocks) == Address.parse(last).value - Address.parse(first).value + 1
