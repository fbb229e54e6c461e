"""Scalar address core vs the standard library: parse + canonical text, per address.

    python benchmarks/addr_scalar.py [--n 200000]

The scalar path is for CLI/API inputs and plans, not bulk data (that is
v6ops.addr.vector); this shows it costs about what ``ipaddress`` costs.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time

from v6ops.addr import Address, classify


def corpus(n: int) -> list[str]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(".".join(str(rng.randrange(256)) for _ in range(4)))
        else:
            fields = [rng.choice([0, 0, rng.randrange(65536)]) for _ in range(8)]
            out.append(str(ipaddress.IPv6Address(int("".join(f"{f:04x}" for f in fields), 16))))
    return out


def rate(fn, items: list[str]) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for text in items:
        fn(text)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    items = corpus(args.n)
    ours = rate(lambda t: str(Address.parse(t)), items)
    stdlib = rate(lambda t: str(ipaddress.ip_address(t)), items)
    ours_cls = rate(lambda t: classify(Address.parse(t)), items[: args.n // 4])
    print(f"v6ops Address.parse + str:      {ours / 1e6:6.3f} M addresses/s")
    print(f"ipaddress.ip_address + str:     {stdlib / 1e6:6.3f} M addresses/s")
    print(f"v6ops parse + classify:         {ours_cls / 1e6:6.3f} M addresses/s")
    print(f"ratio v6ops/ipaddress (parse+str): {ours / stdlib:.2f}x")


if __name__ == "__main__":
    main()
