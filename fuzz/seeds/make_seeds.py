#!/usr/bin/env python3
"""Writes the committed seed corpora in fuzz/seeds/<target>/ (run from anywhere).

The SIP seeds follow RFC 4475 (SIP torture tests), shortened where the RFC
pads a message out; the rest are realistic offers, packets and files. The
config seeds are the shipped sip-config/ files, so re-run this after changing
them. Crash inputs found by fuzzing are added by hand as regress-*.
"""
import os
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent
REPO = ROOT.parent.parent


def write(target, name, data):
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def crlf(text):
    """Text with LF line ends to CRLF (bytes)."""
    if isinstance(text, str):
        text = text.encode()
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def sip(head, body=b"", length=None):
    """A message from its head lines; Content-Length from the body unless given."""
    head = crlf(head.rstrip("\n") + "\n")
    body = crlf(body)
    if length is not False:
        n = len(body) if length is None else length
        head += b"Content-Length: %s\r\n" % str(n).encode()
    return head + b"\r\n" + body


SDP_RFC = """v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""

# --- SIP messages: RFC 4475 valid (3.1.1) ---------------------------------
TORTURE = {}
TORTURE["rfc4475-wsinv"] = crlf("""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

""" + SDP_RFC)
TORTURE["rfc4475-intmeth"] = crlf(
    b"!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
    b"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
    b"To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
    b"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\""
    + "работающий".encode() + b"\";tag=_token~1'+`*%!-.\n"
    b"Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
    b"CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
    b"Max-Forwards: 255\n"
    b"extensionHeader-!.%*+_`'~:" + "\ufeff大停電".encode() + b"\n"
    b"Content-Length: 0\n\n")
TORTURE["rfc4475-esc01"] = sip("""INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
""", SDP_RFC)
TORTURE["rfc4475-escnull"] = sip("""REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0
""", length=False)
TORTURE["rfc4475-esc02"] = sip("""RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0
""", length=False)
TORTURE["rfc4475-lwsdisp"] = sip("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0
""", length=False)
TORTURE["rfc4475-semiuri"] = sip("""OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0
""", length=False)
TORTURE["rfc4475-transports"] = sip("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0
""", length=False)
TORTURE["rfc4475-unreason"] = sip("""SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>
""", SDP_RFC)
TORTURE["rfc4475-noreason"] = sip("""SIP/2.0 100 \n"""
    """Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Contact: <sip:user@host105.example.com>
""")
TORTURE["rfc4475-zeromf"] = sip("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
""")
# --- RFC 4475 invalid (3.1.2) ----------------------------------------------
TORTURE["rfc4475-badinv01"] = sip("""INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Type: application/sdp
""", SDP_RFC)
TORTURE["rfc4475-clerr"] = sip("""INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
""", SDP_RFC, length=9999)
TORTURE["rfc4475-ncl"] = sip("""INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
""", SDP_RFC, length=-999)
TORTURE["rfc4475-scalar02"] = sip("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1""" + "0" * 90 + """
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
""")
TORTURE["rfc4475-scalarlg"] = sip("""SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
""")
TORTURE["rfc4475-quotbal"] = sip("""INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
""", SDP_RFC)
TORTURE["rfc4475-ltgtruri"] = sip("""INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
""", SDP_RFC)
TORTURE["rfc4475-lwsruri"] = sip("""INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
""", SDP_RFC)
TORTURE["rfc4475-lwsstart"] = sip("""INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
""", SDP_RFC)
TORTURE["rfc4475-trws"] = sip("""OPTIONS sip:remote-target@example.com SIP/2.0  
Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
""")
TORTURE["rfc4475-escruri"] = sip("""INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5
CSeq: 149209342 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw
Content-Type: application/sdp
""", SDP_RFC)
TORTURE["rfc4475-baddate"] = sip("""INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
""", SDP_RFC)
TORTURE["rfc4475-badaspec"] = sip("""OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0
""", length=False)
TORTURE["rfc4475-mismatch01"] = sip("""OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0
""", length=False)
TORTURE["rfc4475-bigcode"] = sip("""SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Contact: <sip:user@host105.example.com>
""")
TORTURE["rfc4475-badvers"] = sip("""OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0
""", length=False)
TORTURE["rfc4475-insuf"] = sip("""INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
""", SDP_RFC)
TORTURE["rfc4475-multi01"] = sip("""INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 154
Call-ID: multi01.98asdh@192.0.2.3
Max-Forwards: 5
""", SDP_RFC, length=False)
TORTURE["rfc4475-cparam01"] = sip("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0
""", length=False)
TORTURE["rfc4475-novelsc"] = sip("""OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
""")
TORTURE["rfc4475-inv2543"] = crlf("""INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

""" + SDP_RFC)

# --- SIP messages: what our trunks and phones send -------------------------
SDP_TRUNK = """v=0
o=- 4858 4858 IN IP4 192.0.2.20
s=-
c=IN IP4 192.0.2.20
t=0 0
m=audio 16000 RTP/AVP 8 0 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
"""
OURS = {}
OURS["invite-trunk"] = sip("""INVITE sip:1177@198.51.100.7:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-5eab-1;rport
Max-Forwards: 70
From: "0701234567" <sip:+46701234567@trunk.example.net>;tag=as5f2b
To: <sip:1177@198.51.100.7>
Call-ID: 3c26700ff3e1-9b2a@192.0.2.20
CSeq: 102 INVITE
Contact: <sip:+46701234567@192.0.2.20:5060>
P-Asserted-Identity: <sip:+46701234567@trunk.example.net;user=phone>
Record-Route: <sip:192.0.2.20;lr>, <sip:192.0.2.21;lr>
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO
Supported: timer, 100rel
Content-Type: application/sdp
""", SDP_TRUNK)
OURS["invite-compact"] = sip("""INVITE sip:1177@198.51.100.7 SIP/2.0
v: SIP/2.0/TCP 192.0.2.30:5060;branch=z9hG4bKc0mp4ct
f: <sip:desk@192.0.2.30>;tag=c1
t: <sip:1177@198.51.100.7>
i: compact-1@192.0.2.30
CSeq: 1 INVITE
m: <sip:desk@192.0.2.30:5060;transport=tcp>
c: application/sdp
k: timer
""", SDP_TRUNK)
OURS["register-digest"] = sip("""REGISTER sip:198.51.100.7 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.40:5062;branch=z9hG4bK776asdhds
Max-Forwards: 70
From: <sip:anna.nurse@198.51.100.7>;tag=reg77
To: <sip:anna.nurse@198.51.100.7>
Call-ID: reg-843817637684230@192.0.2.40
CSeq: 2 REGISTER
Contact: <sip:anna.nurse@192.0.2.40:5062>;expires=600
Authorization: Digest username="anna.nurse", realm="1177", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:198.51.100.7", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, opaque="5ccc069c403ebaf9f0171e9517f40e41"
""")
OURS["401-challenge"] = sip("""SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKout1;received=198.51.100.7
From: <sip:1177@trunk.example.net>;tag=pe1
To: <sip:+46701234567@trunk.example.net>;tag=tr9
Call-ID: cb-1@198.51.100.7
CSeq: 1 INVITE
WWW-Authenticate: Digest realm="trunk.example.net", nonce="a1b2c3\\"d4", qop="auth,auth-int", algorithm=MD5, stale=FALSE
""")
OURS["200-invite"] = sip("""SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKout2
Record-Route: <sip:192.0.2.21;lr>
Record-Route: <sip:192.0.2.20;lr>
From: <sip:1177@trunk.example.net>;tag=pe2
To: <sip:+46701234567@trunk.example.net>;tag=callee5
Call-ID: cb-2@198.51.100.7
CSeq: 1 INVITE
Contact: <sip:+46701234567@192.0.2.20>
Content-Type: application/sdp
""", SDP_TRUNK)
OURS["info-dtmf"] = sip("""INFO sip:1177@198.51.100.7 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKinfo1
From: <sip:+46701234567@trunk.example.net>;tag=as5f2b
To: <sip:1177@198.51.100.7>;tag=pe9
Call-ID: 3c26700ff3e1-9b2a@192.0.2.20
CSeq: 103 INFO
Content-Type: application/dtmf-relay
""", "Signal=5\nDuration=160\n")
OURS["bye-lf-only"] = (b"BYE sip:1177@198.51.100.7 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKbye\n"
    b"From: <sip:a@b>;tag=1\nTo: <sip:1177@198.51.100.7>;tag=2\nCall-ID: lf@x\nCSeq: 104 BYE\nContent-Length: 0\n\n")
OURS["options-ipv6"] = sip("""OPTIONS sip:[2001:db8::7]:5060 SIP/2.0
Via: SIP/2.0/UDP [2001:db8::20]:5060;branch=z9hG4bKv6
From: <sip:ping@[2001:db8::20]>;tag=v6
To: <sip:[2001:db8::7]>
Call-ID: v6@[2001:db8::20]
CSeq: 1 OPTIONS
Max-Forwards: 70
""")

for name, data in {**TORTURE, **OURS}.items():
    write("sip_message", name, data)

# --- TCP streams: seed byte (read sizes), then the stream -------------------
KEEPALIVE = b"\r\n\r\n"
streams = {
    "two-messages": OURS["invite-trunk"] + OURS["info-dtmf"],
    "keepalives-between": KEEPALIVE + OURS["register-digest"] + KEEPALIVE + b"\r\n" + OURS["200-invite"],
    "compact-length": OURS["invite-compact"] + TORTURE["rfc4475-lwsdisp"],
    "partial-tail": OURS["info-dtmf"] + OURS["invite-trunk"][:300],
    "no-content-length": crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\n\n"),
    "bad-content-length": TORTURE["rfc4475-ncl"],
    "pipelined-dblreq": TORTURE["rfc4475-esc02"] + TORTURE["rfc4475-escnull"] + TORTURE["rfc4475-wsinv"],
}
for i, (name, data) in enumerate(streams.items()):
    write("sip_framing", name, bytes([i * 37 % 256]) + data)

# --- SIP INFO DTMF: Content-Type line, then the body ------------------------
info = {
    "relay-5": "application/dtmf-relay\nSignal=5\r\nDuration=160\r\n",
    "relay-star-params": "application/dtmf-relay; charset=utf-8\nsignal= *\nDuration=250\n",
    "relay-code-11": "application/dtmf-relay\nSignal=11\nDuration=100\n",
    "relay-no-signal": "application/dtmf-relay\nDuration=100\n",
    "dtmf-hash": "application/dtmf\n#",
    "dtmf-code-10": "Application/DTMF\n10\r\n",
    "dtmf-empty": "application/dtmf\n",
    "text-plain": "text/plain\nSignal=1\n",
}
for name, data in info.items():
    write("sip_info_dtmf", name, data)

# --- SDP offers --------------------------------------------------------------
sdps = {
    "g711-telephone-event": SDP_TRUNK,
    "pcmu-only-lf": "v=0\no=- 1 1 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
    "hold-zero-address": SDP_TRUNK.replace("c=IN IP4 192.0.2.20", "c=IN IP4 0.0.0.0").replace("sendrecv", "sendonly"),
    "ipv6": """v=0
o=- 20518 0 IN IP6 2001:db8::20
s=-
c=IN IP6 2001:db8::20
t=0 0
m=audio 49170 RTP/AVP 0 8 96
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-15
a=recvonly
""",
    "savp-crypto": """v=0
o=- 3800 3800 IN IP4 192.0.2.50
s=SRTP call
c=IN IP4 192.0.2.50
t=0 0
m=audio 30000 RTP/SAVP 0 8 101
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
""",
    "savp-then-avp": """v=0
o=- 1 2 IN IP4 192.0.2.51
s=-
c=IN IP4 192.0.2.51
t=0 0
m=audio 30002 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4
m=audio 30004 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
""",
    "webrtc-like": """v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
a=fingerprint:sha-256 D1:2C:BE:AD:C4:F6:64:5C:25:16:11:9C:AF:E7:0F:73:79:36:4E:9C:1E:15:54:39:0C:06:8B:ED:96:86:00:39
a=setup:actpass
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtpmap:126 telephone-event/8000
""",
    "video-first-dynamic-pcma": """v=0
o=- 5 5 IN IP4 192.0.2.60
s=-
c=IN IP4 192.0.2.60
t=0 0
m=video 5002 RTP/AVP 97
a=rtpmap:97 H264/90000
m=audio 0 RTP/AVP 0
m=audio 5004/2 RTP/AVP 98 101
c=IN IP4 192.0.2.61/127
a=rtpmap:98 pcma/8000
a=rtpmap:101 telephone-event/8000
a=inactive
""",
    "g729-only": "v=0\no=- 1 1 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\nm=audio 4000 RTP/AVP 18\na=rtpmap:18 G729/8000\n",
    "rfc4475-body": SDP_RFC,
    "no-version": "o=- 1 1 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nm=audio 4000 RTP/AVP 0\n",
    "bad-connection": "v=0\nc=IN IP4 not-an-address\nm=audio 4000 RTP/AVP 0\n",
    "bad-port": "v=0\nc=IN IP4 192.0.2.5\nm=audio 99999 RTP/AVP 0\n",
}
for name, data in sdps.items():
    text = data if name.endswith("-lf") else crlf(data)
    write("sdp", name, text)

# --- RTP ----------------------------------------------------------------------
def rtp(pt, seq, ts, ssrc=0x1177ABCD, marker=False, payload=b"", csrcs=(), ext=None, pad=0, version=2):
    b0 = (version << 6) | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | len(csrcs)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    for c in csrcs:
        out += struct.pack("!I", c)
    if ext is not None:
        profile, data = ext
        out += struct.pack("!HH", profile, len(data) // 4) + data
    out += payload
    if pad:
        out += b"\x00" * (pad - 1) + bytes([pad])
    return out


def event(code, end, volume, duration):
    return struct.pack("!BBH", code, (0x80 if end else 0) | volume, duration)


pcmu = bytes((i * 7) & 0xFF for i in range(160))
packets = {
    "pcmu-20ms": rtp(0, 1000, 160000, payload=pcmu),
    "pcma-marker": rtp(8, 1, 0, marker=True, payload=pcmu),
    "csrcs": rtp(0, 7, 8000, csrcs=(0x11111111, 0x22222222, 0x33333333), payload=pcmu[:40]),
    "extension-one-byte": rtp(0, 8, 8160, ext=(0xBEDE, b"\x10\x2a\x00\x00"), payload=pcmu[:40]),
    "extension-two-byte": rtp(0, 9, 8320, ext=(0x1000, b"\x01\x02\xaa\xbb\x02\x00\x00\x00"), payload=pcmu[:40]),
    "padding": rtp(0, 10, 8480, payload=pcmu[:40], pad=4),
    "all-options": rtp(101, 11, 8640, marker=True, csrcs=(5,), ext=(0xBEDE, b"\x00" * 8), payload=event(1, False, 10, 160), pad=8),
    "event-start": rtp(101, 20, 16000, marker=True, payload=event(5, False, 10, 160)),
    "event-end": rtp(101, 24, 16000, payload=event(11, True, 10, 800)),
    "event-fax-tone": rtp(101, 30, 24000, payload=event(36, False, 12, 400)),
    "header-only": rtp(0, 1, 1),
    "truncated-csrcs": rtp(0, 1, 1, csrcs=(1, 2, 3))[:20],
    "truncated-extension": rtp(0, 1, 1, ext=(0xBEDE, b"\x00" * 16))[:24],
    "padding-too-long": rtp(0, 1, 1, payload=b"\x01\x02")[:-1] + b"\xff",
    "version-1": rtp(0, 1, 1, payload=pcmu[:8], version=1),
    "rtcp-sr": struct.pack("!BBHI", 0x80, 200, 6, 0x1177ABCD) + b"\x00" * 20,
}
for name, data in packets.items():
    write("rtp", name, data)

# --- RFC 4733 streams: [dt, len, datagram] records (events on payload type 101) ---
def rec(dt, datagram):
    return bytes([dt, len(datagram)]) + datagram


def press(code, ts, seq, ends=3, updates=3, end_dt=1):
    out = rec(1, rtp(101, seq, ts, marker=True, payload=event(code, False, 10, 160)))
    for i in range(updates):
        out += rec(2, rtp(101, seq + 1 + i, ts, payload=event(code, False, 10, 160 * (i + 2))))
    for i in range(ends):
        out += rec(end_dt if i == 0 else 0, rtp(101, seq + 1 + updates + i, ts, payload=event(code, True, 10, 800)))
    return out


streams4733 = {
    "one-press": press(5, 16000, 100),
    "two-same-key": press(1, 16000, 100) + press(1, 24000, 110),
    "star-hash": press(10, 1000, 1) + press(11, 9000, 10),
    "ends-lost-timeout": press(3, 5000, 50, ends=0) + bytes([0x80 | 60, 0]) + press(4, 20000, 60),
    "start-lost": b"".join(rec(2, rtp(101, 5 + i, 7000, payload=event(9, i == 3, 10, 320 + 160 * i))) for i in range(4)),
    "late-packet": press(2, 30000, 200) + rec(1, rtp(101, 150, 20000, payload=event(7, False, 10, 160))),
    "long-event-segments": rec(1, rtp(101, 1, 1000, marker=True, payload=event(0, False, 10, 0xFFFF)))
        + rec(1, rtp(101, 2, 1000 + 0xFFFF, payload=event(0, False, 10, 400)))
        + rec(1, rtp(101, 3, 1000 + 0xFFFF, payload=event(0, True, 10, 800))),
    "timestamp-wrap": press(8, 0xFFFFFF00, 1) + press(6, 0x00000100, 20),
    "restart-after-quiet": press(1, 50000, 1) + rec(120, rtp(0, 9, 90000, payload=pcmu)) + press(1, 100, 2),
    "reset": press(1, 50000, 1) + rec(0, b"") + press(1, 50000, 1),
}
for name, data in streams4733.items():
    write("rfc4733", name, data)

# --- Intake JSON ----------------------------------------------------------------
intake = {
    "valid": '{"external_ref":"d-1","level":3,"answers":[{"question_id":"fever","question_text":"Har du feber?","answer":"Ja"}],"callback_number":"070-123 45 67","personnummer":"19121212-1212"}',
    "valid-full": '{"external_ref":"1177d-2026-000042","level":1,"answers":[{"question_id":"breathing","question_text":"Har du svårt att andas?","answer":"Ja"},{"question_id":"about","question_text":"Gäller det dig?","answer":"Ett barn"}],"callback_number":"+46701234567","personnummer":"191212121212","summary":"Andnöd sedan i morse.\\nFeber 39.","language":"en"}',
    "level-out-of-range": '{"external_ref":"x","level":7,"answers":[],"callback_number":"0701234567","personnummer":"19121212-1212"}',
    "unknown-field": '{"external_ref":"x","level":2,"answers":[],"callback_number":"0701234567","personnummer":"19121212-1212","priority":"high"}',
    "missing-field": '{"level":1}',
    "wrong-type": '{"external_ref":"x","level":"1","answers":{},"callback_number":701234567,"personnummer":191212121212}',
    "control-chars": '{"external_ref":"a\\u0000b","level":2,"answers":[{"question_id":"q","question_text":"t\\u001b[2J","answer":"a"}],"callback_number":"0701234567","personnummer":"19121212-1212"}',
    "bad-numbers": '{"external_ref":"y","level":-9223372036854775808,"answers":[],"callback_number":"12","personnummer":"19121212-1213","language":"fi"}',
    "deep-nesting": '{"answers":' + "[" * 200 + "]" * 200 + "}",
    "not-json": "level=1&external_ref=x",
}
for name, data in intake.items():
    write("intake", name, data)

# --- Config files: the file name, then its text ------------------------------------
configs = {
    "sip.toml": "sip-config/sip.toml",
    "trunks.toml": "sip-config/trunks.toml",
    "staff.toml": "sip-config/staff.toml",
    "nurse-phones.toml": "sip-config/nurse-phones.toml",
    "queue.toml": "sip-config/queue.toml",
    "hours.toml": "sip-config/hours.toml",
    "ivr.toml": "sip-config/ivr.toml",
    "triage.toml": "sip-config/triage.toml",
    "manifest.toml": "prompts/manifest.toml",
    "intake-clients.toml": "sip-config/intake-clients.toml",
}
for name, path in configs.items():
    write("config", name, name.encode() + b"\n" + (REPO / path).read_bytes())
write("config", "trunk.toml", """trunk.toml
proxy = "192.0.2.20:5060"
domain = "trunk.example.net"
from_number = "1177"
username = "region-1177"
ring_timeout_seconds = 45
""")
write("config", "hours-holiday", """hours.toml
timezone = "Europe/Stockholm"
[weekly]
mon = ["08:00-12:00", "13:00-17:00"]
sun = []
[holidays]
2026-12-24 = ["09:00-10:00"]
""")
write("config", "queue-bad-retry", "queue.toml\n[retry]\nmax_attempts = 0\ninterval_minutes = -5\n")
