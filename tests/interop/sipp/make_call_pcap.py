#!/usr/bin/env python3
"""Writes the caller's side of one IVR call as a pcap for SIPp's play_pcap_audio.

One RTP stream, as a real phone sends it: PCMU (payload type 0) every 20 ms
with a quiet 425 Hz tone as the "voice", and each key as an RFC 4733
telephone-event (payload type 101) in the same stream (same SSRC, running
sequence numbers): a marker start packet, updates every 20 ms, three end
packets; audio pauses while a key is sent, as on a phone.

Why one stream: the service latches symmetric RTP on the first source and
ignores other source ports (RTP injection guard), so SIPp's rtp_stream audio
plus its separately played dtmf_2833_*.pcap (a second socket) loses the keys.

Usage: make_call_pcap.py OUT.pcap [--lead-ms 10500] [--keys 132] [--gap-ms 3000]
       [--tail-ms 2000] [--key-ms 160]
The stream lasts lead + keys x (key + gap) - gap + tail; the scenario's pauses
must match (see ivr_call.xml).
"""

import argparse
import math
import struct

PT_PCMU = 0
PT_EVENT = 101
SSRC = 0x1177CAFE
EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def ulaw(sample):
    """G.711 mu-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


TONE = bytes(ulaw(int(3277 * math.sin(2 * math.pi * 425 * n / 8000))) for n in range(8000))


def udp_frame(payload, sport=40000, dport=6000):
    """Ethernet + IPv4 + UDP around an RTP packet (SIPp rewrites addresses)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    csum = sum(struct.unpack("!10H", ip))
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = (csum & 0xFFFF) + (csum >> 16)
    ip = ip[:10] + struct.pack("!H", ~csum & 0xFFFF) + ip[12:]
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


class Stream:
    def __init__(self):
        self.seq = 1
        self.ts = 0  # RTP timestamp, 8 kHz
        self.t_ms = 0  # capture time
        self.packets = []
        self.tone_pos = 0

    def rtp(self, pt, marker, ts, payload):
        hdr = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC)
        self.seq += 1
        return hdr + payload

    def audio(self, ms, first=False):
        for i in range(ms // 20):
            chunk = bytes(TONE[(self.tone_pos + k) % len(TONE)] for k in range(160))
            self.tone_pos += 160
            self.packets.append((self.t_ms, self.rtp(PT_PCMU, first and i == 0, self.ts, chunk)))
            self.ts += 160
            self.t_ms += 20

    def key(self, key, ms):
        code = EVENT_CODES[key]
        start = self.ts
        steps = max(ms // 20, 1)
        for i in range(1, steps + 1):
            payload = struct.pack("!BBH", code, 10, 160 * i)
            self.packets.append((self.t_ms, self.rtp(PT_EVENT, i == 1, start, payload)))
            self.t_ms += 20
        end = struct.pack("!BBH", code, 0x80 | 10, 160 * steps)
        for _ in range(3):  # the end packet three times, same sequence gap rules as phones
            self.packets.append((self.t_ms, self.rtp(PT_EVENT, False, start, end)))
        self.ts += 160 * steps

    def write(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t_ms, rtp in self.packets:
                frame = udp_frame(rtp)
                sec, usec = divmod(t_ms * 1000, 1_000_000)
                f.write(struct.pack("<IIII", 1_700_000_000 + sec, usec, len(frame), len(frame)))
                f.write(frame)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--lead-ms", type=int, default=10500)
    p.add_argument("--keys", default="132")
    p.add_argument("--gap-ms", type=int, default=3000)
    p.add_argument("--tail-ms", type=int, default=2000)
    p.add_argument("--key-ms", type=int, default=160)
    a = p.parse_args()
    s = Stream()
    s.audio(a.lead_ms, first=True)
    for i, k in enumerate(a.keys):
        s.key(k, a.key_ms)
        s.audio(a.gap_ms if i + 1 < len(a.keys) else a.tail_ms)
    s.write(a.out)


if __name__ == "__main__":
    main()
