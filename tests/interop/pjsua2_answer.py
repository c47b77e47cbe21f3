#!/usr/bin/env python3
"""The resident behind the trunk, played by PJSIP's pjsua2 (PyPI
`pjsua2-python`), for the callback interop test in tests/interop_pjsua2.rs.

Listens for SIP on 127.0.0.1 (UDP, an ephemeral port), auto-answers the
first INVITE with 200 (G.711 u-law only), plays a steady tone into the call
(pjmedia ToneGenerator), records what it receives to a WAV (8 kHz mono,
AudioMediaRecorder), hangs up --hangup-after-s after the call is confirmed,
and prints JSON lines on stdout:
  {"listening": PORT}                                  as soon as it listens
  {"answered": bool, "confirmed": bool, "from": str, "request_uri": str,
   "call_id": str, "codec": str, "hung_up_locally": bool,
   "ended_by_remote": bool, "duration_s": float, "rx_rtp_packets": int,
   "error": str|null}                                  at the end
The conference bridge runs at 8 kHz and is clocked by the null audio device.

Usage: pjsua2_answer.py --record heard.wav [--tone-hz 600] [--hangup-after-s 14]
       [--timeout-s 60]
"""

import argparse
import json
import os
import sys
import time

import pjsua2 as pj


class Log(pj.LogWriter):
    """pjsip's log goes to stderr: stdout carries only the JSON lines."""

    def write(self, entry):
        sys.stderr.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")


class Call(pj.Call):
    def __init__(self, acc, call_id, tone_hz, record):
        super().__init__(acc, call_id)
        self.tone_hz = tone_hz
        self.record = record
        self.confirmed_at = None
        self.disconnected = False
        self.tone = None
        self.recorder = None

    def onCallState(self, prm):
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.monotonic()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True

    def onCallMediaState(self, prm):
        info = self.getInfo()
        for i, m in enumerate(info.media):
            if m.type != pj.PJMEDIA_TYPE_AUDIO or m.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            aud = self.getAudioMedia(i)
            if self.tone is None:
                self.tone = pj.ToneGenerator()
                self.tone.createToneGenerator(8000, 1)
                d = pj.ToneDesc()
                d.freq1 = int(self.tone_hz)
                d.freq2 = int(self.tone_hz)
                d.on_msec = 1000
                d.off_msec = 0
                d.volume = 0
                tones = pj.ToneDescVector()
                tones.append(d)
                self.tone.play(tones, True)
                self.tone.startTransmit(aud)
            if self.recorder is None:
                self.recorder = pj.AudioMediaRecorder()
                self.recorder.createRecorder(self.record)
                aud.startTransmit(self.recorder)


class Account(pj.Account):
    def __init__(self, tone_hz, record):
        super().__init__()
        self.tone_hz = tone_hz
        self.record = record
        self.call = None
        self.invite = None

    def onIncomingCall(self, prm):
        call = Call(self, prm.callId, self.tone_hz, self.record)
        op = pj.CallOpParam()
        if self.call is not None:
            op.statusCode = 486  # one resident, one call
            call.hangup(op)
            return
        self.call = call
        self.invite = prm.rdata.wholeMsg
        op.statusCode = 200
        call.answer(op)


def header(msg, name):
    for line in msg.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == name.lower():
            return v.strip()
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", required=True)
    ap.add_argument("--tone-hz", type=float, default=600.0)
    ap.add_argument("--hangup-after-s", type=float, default=14.0)
    ap.add_argument("--timeout-s", type=float, default=60.0)
    a = ap.parse_args()

    out = {"answered": False, "confirmed": False, "from": "", "request_uri": "", "call_id": "",
           "codec": "", "hung_up_locally": False, "ended_by_remote": False, "duration_s": 0.0,
           "rx_rtp_packets": 0, "error": None}
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # callbacks run inside libHandleEvents, in this thread
    cfg.uaConfig.mainThreadOnly = True
    log = Log()
    cfg.logConfig.writer = log
    cfg.logConfig.level = 4
    cfg.logConfig.consoleLevel = 4
    cfg.logConfig.msgLogging = 1
    cfg.medConfig.hasIoqueue = True
    cfg.medConfig.noVad = True
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, 255 if c.codecId.startswith("PCMU/") else 0)
    tcfg = pj.TransportConfig()
    tcfg.boundAddress = "127.0.0.1"
    tcfg.port = 0
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    port = ep.transportGetInfo(tid).localName.split(":")[-1]

    acfg = pj.AccountConfig()
    acfg.idUri = "sip:resident@127.0.0.1"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = Account(a.tone_hz, a.record)
    acc.create(acfg, True)
    print(json.dumps({"listening": int(port)}), flush=True)

    def pump(seconds, until):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(20)
            if until():
                return True
        return until()

    try:
        if not pump(a.timeout_s, lambda: acc.call is not None and
                    (acc.call.confirmed_at is not None or acc.call.disconnected)):
            raise RuntimeError("no call came in")
        call = acc.call
        out["answered"] = True
        msg = acc.invite or ""
        first = msg.splitlines()[0] if msg else ""
        out["request_uri"] = first.split(" ")[1] if first.count(" ") >= 2 else ""
        out["from"] = header(msg, "From") or header(msg, "f")
        if call.confirmed_at is None:
            raise RuntimeError("call ended before the ACK")
        out["confirmed"] = True
        info = call.getInfo()
        out["call_id"] = info.callIdString
        pump(a.hangup_after_s, lambda: call.disconnected)
        out["duration_s"] = round(time.monotonic() - call.confirmed_at, 2)
        try:
            si = call.getStreamInfo(0)
            out["codec"] = si.codecName
            st = call.getStreamStat(0)
            out["rx_rtp_packets"] = st.rtcp.rxStat.pkt
        except Exception:
            pass
        if call.disconnected:
            out["ended_by_remote"] = True
        else:
            out["hung_up_locally"] = True
            call.hangup(pj.CallOpParam(True))
            pump(3, lambda: call.disconnected)
    except Exception as e:  # reported in the JSON, the test decides
        out["error"] = str(e)
    # libDestroy closes the recorder, which writes the WAV header's sizes.
    ep.libDestroy()
    print(json.dumps(out), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # pjsua2's Python destructors assert after libDestroy: leave without them.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
