from __future__ import annotations

import pytest

from v6ops.addr import Address, embedded_ipv4, nat64_extract


# RFC 6052 section 2.4, Table 3: 192.0.2.33 embedded under each prefix length.
@pytest.mark.parametrize(
    ("length", "text"),
    [
        (32, "2001:db8:c000:221::"),
        (40, "2001:db8:1c0:2:21::"),
        (48, "2001:db8:122:c000:2:2100::"),
        (56, "2001:db8:122:3c0:0:221::"),
        (64, "2001:db8:122:344:c0:2:2100:0"),
        (96, "2001:db8:122:344::192.0.2.33"),
    ],
)
def test_rfc6052_section_2_4_examples(length: int, text: str) -> None:
    assert str(nat64_extract(Address.parse(text), length)) == "192.0.2.33"


def test_nat64_well_known_prefix() -> None:
    e = embedded_ipv4(Address.parse("64:ff9b::192.0.2.33"))
    assert e is not None and (str(e.address), e.mechanism) == ("192.0.2.33", "nat64")


def test_nat64_local_use_prefix_length_is_the_callers_choice() -> None:
    a = Address.parse("64:ff9b:1:c000:2:2100::")
    assert str(embedded_ipv4(a, nat64_local_length=48).address) == "192.0.2.33"  # type: ignore[union-attr]
    assert str(embedded_ipv4(Address.parse("64:ff9b:1::c000:221")).address) == "192.0.2.33"  # type: ignore[union-attr]


def test_ipv4_mapped() -> None:
    e = embedded_ipv4(Address.parse("::ffff:198.51.100.7"))
    assert e is not None and (str(e.address), e.mechanism) == ("198.51.100.7", "ipv4-mapped")


def test_6to4_rfc3056() -> None:
    e = embedded_ipv4(Address.parse("2002:c000:204::1"))
    assert e is not None and (str(e.address), e.mechanism) == ("192.0.2.4", "6to4")


def test_teredo_rfc4380_section_4_example() -> None:
    # RFC 4380 / RFC 5991 example: server 65.54.227.120, client 192.0.2.45 (obfuscated as 3fff:fdd2).
    e = embedded_ipv4(Address.parse("2001:0000:4136:e378:8000:63bf:3fff:fdd2"))
    assert e is not None
    assert (str(e.address), str(e.teredo_server), e.mechanism) == ("192.0.2.45", "65.54.227.120", "teredo")


def test_plain_addresses_embed_nothing() -> None:
    assert embedded_ipv4(Address.parse("2001:db8::1")) is None
    assert embedded_ipv4(Address.parse("192.0.2.1")) is None


def test_bad_nat64_length() -> None:
    with pytest.raises(ValueError, match="must be one of 32, 40, 48, 56, 64, 96, not 60"):
        nat64_extract(Address.parse("64:ff9b::1"), 60)
