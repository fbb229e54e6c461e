"""Run inside the sender namespace: send the frames of a pcap on one interface, with the given gaps.

argv: interface, pcap file, JSON list of seconds to sleep after each frame.
"""

from __future__ import annotations

import json
import sys
import time

from scapy.all import conf, rdpcap

iface, pcap_path, gaps_path = sys.argv[1:4]
frames = rdpcap(pcap_path)
with open(gaps_path) as fh:
    gaps = json.load(fh)
sock = conf.L2socket(iface=iface)
try:
    for frame, gap in zip(frames, gaps, strict=True):
        sock.send(frame)
        if gap:
            time.sleep(gap)
finally:
    sock.close()
