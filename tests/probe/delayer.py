"""Hold every queued packet for a fixed time, then accept it: a delay line for kernels without tc netem.

    ip netns exec NS python -m tests.probe.delayer --queue 13 --delay 0.1

Packets reach it through an ``NFQUEUE`` rule (ip6tables, xt compat: this kernel has no nft
queue expression and no sch_netem). Verdicts are issued after the callback returns
(``Packet.retain``), in arrival order, from one thread.
"""

from __future__ import annotations

import argparse
import collections
import select
import sys
import time

from netfilterqueue import NetfilterQueue, Packet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay", type=float, required=True)
    args = parser.parse_args()
    held: collections.deque[tuple[float, Packet]] = collections.deque()

    def hold(packet: Packet) -> None:
        packet.retain()
        held.append((time.monotonic() + args.delay, packet))

    queue = NetfilterQueue()
    queue.bind(args.queue, hold)
    fd = queue.get_fd()
    sys.stderr.write(f"delayer: queue {args.queue} ready\n")
    sys.stderr.flush()
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
        readable, _, _ = select.select([fd], [], [], timeout)
        if readable:
            queue.run(block=False)
        now = time.monotonic()
        while held and held[0][0] <= now:
            held.popleft()[1].accept()


if __name__ == "__main__":
    main()
