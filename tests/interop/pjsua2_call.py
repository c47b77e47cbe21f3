#!/usr/bin/env python3
"""One scripted IVR call with PJSIP's pjsua2 (PyPI `pjsua2-python`), an
independent SIP stack, for tests/interop_pjsua2.rs.

UDP on 127.0.0.1, G.711 u-law only, null audio device (pjsua sends silence),
keys as RFC 4733 events (PJSUA_DTMF_METHOD_RFC2833) or, with --dtmf info, as
SIP INFO application/dtmf-relay (PJSUA_DTMF_METHOD_SIP_INFO). The script never hangs
up: it waits for the service to end the call and reports whether a BYE came
in. Prints one JSON line on stdout:
  {"established": bool, "call_id": str, "ended_by_remote": bool,
   "bye_received": bool, "last_status": int, "keys_sent": str, "error": str|null}

Usage: pjsua2_call.py --uri sip:1177@127.0.0.1:5060 --user +46701234567
       --lead-s 10.6 --keys 1322222122# --gap-s 0.7 --then 2.0:1 [--timeout-s 90]
`--then D:KEYS` (repeatable) waits D seconds after the previous keys, then sends KEYS.
"""

import argparse
import json
import os
import sys
import time

import pjsua2 as pj


class Log(pj.LogWriter):
    """Keeps pjsip's log (SIP messages included) to look for the incoming BYE."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def write(self, entry):
        self.lines.append(entry.msg)


class Call(pj.Call):
    def __init__(self, acc):
        super().__init__(acc)
        self.state = None
        self.confirmed = False
        self.disconnected = False
        self.last_status = 0
        self.hung_up_locally = False

    def onCallState(self, prm):
        info = self.getInfo()
        self.state = info.state
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            self.last_status = info.lastStatusCode

    def onCallMediaState(self, prm):
        # pjsua only sends RTP (and RFC 4733 events) for a stream that is
        # connected to the conference bridge, clocked here by the null device.
        info = self.getInfo()
        for i, m in enumerate(info.media):
            if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                aud = self.getAudioMedia(i)
                mgr = pj.Endpoint.instance().audDevManager()
                mgr.getCaptureDevMedia().startTransmit(aud)
                aud.startTransmit(mgr.getPlaybackDevMedia())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--user", default="+46701234567")
    ap.add_argument("--lead-s", type=float, default=10.6)
    ap.add_argument("--keys", default="")
    ap.add_argument("--gap-s", type=float, default=0.7)
    ap.add_argument("--then", action="append", default=[])
    ap.add_argument("--timeout-s", type=float, default=90.0)
    ap.add_argument("--dtmf", choices=["rfc4733", "info"], default="rfc4733")
    a = ap.parse_args()

    out = {"established": False, "call_id": "", "ended_by_remote": False, "bye_received": False,
           "last_status": 0, "keys_sent": "", "error": None}
    ep = pj.Endpoint()
    ep.libCreate()
    log = Log()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # callbacks run inside libHandleEvents, in this thread
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.writer = log
    cfg.logConfig.level = 5
    cfg.logConfig.consoleLevel = 5
    cfg.logConfig.msgLogging = 1
    cfg.medConfig.hasIoqueue = True
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, 255 if c.codecId.startswith("PCMU/") else 0)
    tcfg = pj.TransportConfig()
    tcfg.boundAddress = "127.0.0.1"
    tcfg.port = 0
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{a.user}@127.0.0.1"
    acfg.sipConfig.contactForced = ""
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = pj.Account()
    acc.create(acfg)

    def pump(seconds, until=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(20)
            if until is not None and until():
                return True
        return until() if until is not None else True

    call = Call(acc)
    try:
        call.makeCall(a.uri, pj.CallOpParam(True))
        if not pump(15, lambda: call.confirmed or call.disconnected) or not call.confirmed:
            raise RuntimeError(f"call not established (last status {call.last_status})")
        out["established"] = True
        out["call_id"] = call.getInfo().callIdString
        plan = [(a.lead_s, a.keys)] + [tuple(t.split(":", 1)) for t in a.then]
        for delay, keys in plan:
            pump(float(delay), lambda: call.disconnected)
            for k in keys:
                if call.disconnected:
                    raise RuntimeError("call ended before all keys were sent")
                prm = pj.CallSendDtmfParam()
                prm.method = (pj.PJSUA_DTMF_METHOD_SIP_INFO if a.dtmf == "info"
                              else pj.PJSUA_DTMF_METHOD_RFC2833)
                prm.digits = k
                call.sendDtmf(prm)
                out["keys_sent"] += k
                pump(a.gap_s, lambda: call.disconnected)
        pump(a.timeout_s, lambda: call.disconnected)
        out["ended_by_remote"] = call.disconnected and not call.hung_up_locally
        out["last_status"] = call.last_status
    except Exception as e:  # reported in the JSON, the test decides
        out["error"] = str(e)
    out["bye_received"] = any("Request msg BYE" in l and "RX" in l for l in log.lines)
    if not call.disconnected:
        call.hung_up_locally = True
        try:
            call.hangup(pj.CallOpParam(True))
            pump(2, lambda: call.disconnected)
        except Exception:
            pass
    print(json.dumps(out), flush=True)
    # pjsua2's Python destructors assert after libDestroy (pjsua_call_set_user_data):
    # shut the library down, then leave without running them.
    ep.libDestroy()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
