#!/usr/bin/env python3
"""Reproduces: with a late offer (INVITE without SDP), the service sends RTP
to the caller's SIP signalling address before the ACK brings the answer.

Sends one INVITE without a body from a UDP socket and, without ACKing,
listens on that same (SIP) socket for 2 s. A correct UAS sends only SIP
there (100, 200 and its retransmissions); every packet starting with RTP
version 2 is media sent to the wrong place.

Usage: probe_late_offer.py [HOST:PORT]   (default 127.0.0.1:5060)
Exit code 1 when RTP arrived on the SIP socket.
"""

import random
import socket
import sys
import time


def main():
    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:5060").rpartition(":")
    dst = (host, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    lp = s.getsockname()[1]
    call_id = f"{random.randrange(1 << 30)}@late-offer-probe"
    invite = (
        f"INVITE sip:1177@{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{random.randrange(1 << 30)};rport\r\n"
        f"From: <sip:anonymous@anonymous.invalid>;tag=probe\r\nTo: <sip:1177@{host}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:probe@127.0.0.1:{lp}>\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    s.sendto(invite.encode(), dst)
    sip, rtp = [], 0
    end = time.time() + 2.0
    while time.time() < end:
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        if data[:3] == b"SIP":
            sip.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
        elif data and data[0] >> 6 == 2:
            rtp += 1
    # Leave politely: CANCEL is too late after 200; a BYE needs the To tag, so
    # just stop (the service hangs up when the 2xx is never acknowledged).
    print(f"SIP on the signalling socket: {sip}")
    print(f"RTP packets on the signalling socket: {rtp}")
    return 1 if rtp else 0


if __name__ == "__main__":
    sys.exit(main())
