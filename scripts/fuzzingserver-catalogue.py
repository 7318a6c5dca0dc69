#!/usr/bin/env python2
# Regenerates src/apps/fuzzingserver/catalogue.json, duplex's copy of Autobahn|Testsuite's
# WebSocket case catalogue (autobahn-testsuite 25.10.1, Apache-2.0, crossbario), from the
# installed suite itself, so ids, descriptions, expectations and the frames each case sends
# cannot drift from the original.
#
# usage: ~/.cache/autobahn-venv/bin/python scripts/fuzzingserver-catalogue.py > \
#          src/apps/fuzzingserver/catalogue.json
#   (the venv comes from ../shared/tools/setup-autobahn.sh)
#
# How: every case class is instantiated against a recording stand-in for Autobahn's protocol;
# its onOpen (and every continueLater continuation) runs once and what it would send is written
# down as steps. Cases whose logic lives in onMessage (9.*, 12.*, 13.*) are described by their
# parameters instead; duplex runs those with its own code (src/apps/fuzzingserver/script.rs).
import binascii
import inspect
import json
import sys

from autobahn.websocket.protocol import WebSocketProtocol
from autobahntestsuite.case import Cases, CaseCategories, CaseSubCategories
from autobahntestsuite.caseset import CaseSet
from autobahntestsuite.case import case12_x_x

OPEN, CLOSING = WebSocketProtocol.STATE_OPEN, WebSocketProtocol.STATE_CLOSING


def payload(data):
    """A payload as JSON: hex, or a fill byte and a length for long uniform ones."""
    if isinstance(data, unicode):
        data = data.encode("utf8")
    if len(data) > 64 and data == data[0] * len(data):
        return {"fill": binascii.b2a_hex(data[0]), "len": len(data)}
    return {"hex": binascii.b2a_hex(data)}


def header(opcode, fin, length):
    b0 = (0x80 if fin else 0) | opcode
    if length <= 125:
        return chr(b0) + chr(length)
    if length <= 0xFFFF:
        return chr(b0) + chr(126) + chr(length >> 8) + chr(length & 0xFF)
    return chr(b0) + chr(127) + "".join(chr((length >> (8 * i)) & 0xFF) for i in range(7, -1, -1))


class Factory(object):
    isServer = True


class Recorder(WebSocketProtocol):
    """Stands in for the fuzzing server's protocol while a case's onOpen runs."""

    def __init__(self):
        self.steps = []
        self.state = OPEN
        self.factory = Factory()
        self.autoFragmentSize = 0
        self.createWirelog = True
        self._perMessageCompress = None
        self.txFrameStats = {}
        self.case = None
        self.frame_opcode = 1

    def sendFrame(self, opcode, payload="", fin=True, rsv=0, mask=None, payload_len=None,
                  chopsize=None, sync=False):
        step = {"op": "frame", "opcode": opcode, "fin": fin, "rsv": rsv,
                "payload": globals()["payload"](payload), "sync": sync}
        if payload_len is not None:
            step["payload_len"] = payload_len
        if chopsize:
            step["chopsize"] = chopsize
        self.steps.append(step)

    def sendMessage(self, payload, isBinary=False, fragmentSize=None, sync=False, doNotCompress=False):
        if fragmentSize is None and self.autoFragmentSize > 0:
            fragmentSize = self.autoFragmentSize
        step = {"op": "message", "binary": isBinary, "payload": globals()["payload"](payload),
                "sync": sync}
        if fragmentSize:
            step["fragment_size"] = fragmentSize
        self.steps.append(step)

    def beginMessage(self, isBinary=False, doNotCompress=False):
        self.frame_opcode = 2 if isBinary else 1

    def beginMessageFrame(self, length):
        self.steps.append({"op": "raw", "bytes": payload(header(self.frame_opcode, False, length)),
                           "sync": False})

    def sendMessageFrameData(self, data, sync=False):
        self.steps.append({"op": "raw", "bytes": payload(data), "sync": sync})

    def endMessage(self):
        self.sendFrame(opcode=0, payload="", fin=True)

    def sendClose(self, code=None, reason=None):
        self.sendCloseFrame(code, reason.encode("utf8") if reason is not None else None)

    def sendCloseFrame(self, code=None, reasonUtf8=None, isReply=False):
        step = {"op": "close"}
        if code is not None:
            step["code"] = code
        if reasonUtf8 is not None:
            step["reason"] = payload(reasonUtf8)
        self.steps.append(step)

    def killAfter(self, delay):
        self.steps.append({"op": "kill_after", "secs": delay})

    def closeAfter(self, delay):
        self.steps.append({"op": "close_after", "secs": delay})

    def enableWirelog(self, enable):
        self.steps.append({"op": "wirelog", "on": enable})

    def continueLater(self, delay, fun, tag=None):
        # Whether the continuation only acts on an open connection (6.4.*): run it once as if
        # closing, and see if it did anything.
        mark, received = len(self.steps), list(self.case.received)
        self.state = CLOSING
        fun()
        gated = len(self.steps) == mark and self.case.received == received
        del self.steps[mark:]
        self.case.received[:] = received
        self.state = OPEN
        self.steps.append({"op": "delay", "secs": delay, "tag": tag, "only_if_open": gated})
        start = len(self.steps)
        fun()
        # What the continuation added to the received events is a marker the engine records
        # when the delay expires (the "timeout" events of 6.4.*), before what it sends.
        markers = [{"op": "mark", "event": events([e])[0]}
                   for e in self.case.received[len(received):]]
        self.steps[start:start] = markers
        del self.case.received[len(received):]


def events(evs):
    out = []
    for e in evs:
        if e[0] == "message":
            out.append({"kind": "message", "payload": payload(e[1]), "binary": e[2]})
        elif e[0] in ("ping", "pong"):
            out.append({"kind": e[0], "payload": payload(e[1])})
        elif e[0] == "timeout":
            out.append({"kind": "timeout", "tag": e[1]})
        else:
            raise Exception("unknown event %r" % (e,))
    return out


def own_source(klass, name):
    """The source of `name` if the class (not Case) defines it."""
    for k in inspect.getmro(klass):
        if name in k.__dict__ and k.__name__ != "Case":
            return inspect.getsource(k.__dict__[name])
    return ""


def describe(klass, case_id):
    p = Recorder()
    c = klass(p)
    p.case = c
    entry = {"id": case_id, "description": klass.DESCRIPTION.strip(),
             "expectation": klass.EXPECTATION.strip()}
    group = case_id.split(".")[0]
    lost = own_source(klass, "onConnectionLost")
    if "INFORMATIONAL" in lost:
        entry["close_rule"] = "informational"
    elif "WRONG_CODE" in lost:
        entry["close_rule"] = "wrong_code_fails"
    if c.suppressClose:
        entry["suppress_close"] = True
    if group in ("12", "13"):
        accept = klass.SERVER_ACCEPT.__name__
        entry["script"] = {"kind": "compression", "len": klass.LEN, "count": klass.COUNT,
                           "wait_secs": klass.WAITSECS, "auto_fragment": klass.AUTOFRAGSIZE,
                           "accept": "accept1" if accept == "accept_deflate" else accept,
                           "data": [k for k, v in case12_x_x.WS_COMPRESSION_TESTDATA.items()
                                    if v is klass.TESTDATA][0],
                           "binary": klass.TESTDATA["binary"]}
        entry["report_time"] = True
        return entry
    if "COUNT" in klass.__dict__:  # 9.7.*, 9.8.*
        entry["script"] = {"kind": "round_trips", "len": klass.LEN, "count": klass.COUNT,
                           "wait_secs": klass.WAITSECS, "binary": klass.BINARY}
        entry["report_time"] = True
        return entry
    c.onOpen()
    if own_source(klass, "onMessage"):  # 9.1.* to 9.6.*: one big echo, judged by its length
        binary = [s for s in p.steps if s["op"] in ("frame", "message")][0]
        binary = binary.get("binary", binary.get("opcode") == 2)
        entry["script"] = {"kind": "one_echo", "len": c.DATALEN, "binary": binary,
                           "steps": p.steps, "wait_secs": c.WAITSECS}
        entry["report_time"] = True
        return entry
    entry["script"] = {"kind": "steps", "steps": p.steps}
    entry["expected"] = dict((k, events(v)) for k, v in c.expected.items())
    close = c.expectedClose
    entry["expected_close"] = {"closed_by_me": close["closedByMe"], "close_code": close["closeCode"],
                               "require_clean": close["requireClean"]}
    if close.get("closedByWrongEndpointIsFatal"):
        entry["expected_close"]["closed_by_wrong_endpoint_is_fatal"] = True
    if c.reportTime:
        entry["report_time"] = True
    return entry


def main():
    case_set = CaseSet("websocket", "Case", Cases, CaseCategories, CaseSubCategories)
    out = {"source": "autobahn-testsuite 25.10.1 (Apache-2.0), generated by "
                     "scripts/fuzzingserver-catalogue.py",
           "categories": CaseCategories, "subcategories": CaseSubCategories, "cases": []}
    for klass in Cases:
        out["cases"].append(describe(klass, case_set.caseClasstoId(klass)))
    json.dump(out, sys.stdout, sort_keys=True, separators=(",", ":"))
    sys.stdout.write("\n")


main()
