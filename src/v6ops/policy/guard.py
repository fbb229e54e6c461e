"""``v6ops policy guard``: the evaluator inline on NFQUEUE, for what nftables cannot express.

The compiled table marks the packets it cannot finish judging (RAs, whose options come
in any order, RFC 6105/7113; packets with extension headers, whose order and count
nft cannot check, RFC 8200 4.1) and queues them after every nft rule passed. The
guard parses each queued packet (already reassembled by the kernel when it was
fragmented) and runs ``Evaluator.guard_check``, the same code the offline evaluator
uses. Without ``bypass`` in the policy the kernel drops queued packets while no guard
listens: fail-closed.
"""

from __future__ import annotations

import json
import select
import signal
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from v6ops.events import Sink
from v6ops.policy.evaluator import Evaluator, Verdict
from v6ops.policy.metrics import SecurityMetrics
from v6ops.policy.normalized import NormalizedPolicy
from v6ops.policy.packet import parse_ip


class QueuedPacket(Protocol):
    def get_payload(self) -> bytes: ...
    def accept(self) -> None: ...
    def drop(self) -> None: ...


RECENT_EVENTS = 1000  # a long-running guard keeps only the latest drops in memory


@dataclass
class GuardStats:
    accepted: int = 0
    dropped: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "dropped": self.dropped, "rules": dict(self.rules),
                "events": list(self.events)}


class Guard:
    """``metrics`` gets each packet's decision latency and every drop; ``sink`` gets every drop as an event."""

    def __init__(self, policy: NormalizedPolicy, metrics: SecurityMetrics | None = None,
                 sink: Sink | None = None) -> None:
        self.policy = policy
        self.evaluator = Evaluator(policy, keep_events=False)
        self.stats = GuardStats()
        self.stopping = False
        self.metrics = metrics
        self.sink = sink
        self.index = 0

    def decide(self, payload: bytes) -> str | None:
        """The rule that drops this packet, or None to accept; unparseable packets are dropped."""
        packet = parse_ip(payload)
        if packet.error is not None:
            return "malformed"
        return self.evaluator.guard_check(packet)

    def handle(self, pkt: QueuedPacket) -> None:
        payload = pkt.get_payload()
        start = time.perf_counter()
        try:
            rule = self.decide(payload)
        except Exception as exc:  # a bug must not leave the packet queued or let it through: drop, count, log
            rule = "guard-error"
            sys.stderr.write(f"guard: {type(exc).__name__}: {exc} on a {len(payload)}-octet packet; dropped\n")
        if self.metrics is not None:
            self.metrics.observe_latency(self.policy.name, "guard", time.perf_counter() - start)
        self.index += 1
        if rule is None:
            self.stats.accepted += 1
            self.stats.rules["guard-accept"] += 1
            pkt.accept()
            return
        self.stats.dropped += 1
        self.stats.rules[rule] += 1
        try:
            packet = parse_ip(payload)
            src, dst = packet.src, packet.dst
        except Exception:  # the guard-error case: the event carries no addresses
            src = dst = b""
        verdict = Verdict(self.index, time.time_ns(), "drop", rule, len(payload), src, dst)
        event = verdict.event(self.policy.name, self.policy.isolation.tenant)
        self.stats.events.append(event.to_dict())
        pkt.drop()
        if self.metrics is not None:
            self.metrics.observe_event(event)
        if self.sink is not None:
            self.sink.emit(event)

    def run(self, ready_message: bool = True) -> GuardStats:
        """Serve the queue until SIGTERM/SIGINT; returns what was decided."""
        from netfilterqueue import NetfilterQueue

        queue = NetfilterQueue()
        queue.bind(self.policy.guard.queue_num, self.handle, max_len=4096)

        def stop(signum: int, frame: FrameType | None) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        fd = queue.get_fd()
        if ready_message:
            sys.stderr.write(f"guard: listening on NFQUEUE {self.policy.guard.queue_num}\n")
            sys.stderr.flush()
        try:
            while not self.stopping:
                readable, _, _ = select.select([fd], [], [], 0.2)
                if readable:
                    queue.run(block=False)
        finally:
            queue.unbind()
        return self.stats


def stats_json(stats: GuardStats) -> str:
    return json.dumps(stats.as_dict())
