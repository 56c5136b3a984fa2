"""Client peer for tests/tests/interop_clients.rs: the `python-engineio` client over JSON lines.

Speaks the same protocol as tests/node/engineio_client.js (see there): one JSON request per
stdin line, one JSON answer per stdout line; diagnostics go to stderr.

  connect {url, opts: {transports}, timeout_ms}  -> {ok, sid, transport (opened on)}
  echo {messages: [M], timeout_ms}               -> {received: [M], transport}
  wait_upgrade {timeout_ms}                      -> {ok, transport}
  close {timeout_ms}                             -> {ok, reason}

Messages are {"t": text} or {"b": base64}; received ones are reported as delivered: str as
{"t"}, bytes as {"b"}, anything else as {"other": type name}.

python-engineio runs each `message` handler in a thread of its own, so handlers may run out of
order. The order is the transport's, so this client takes messages where the transport delivers
them (`_trigger_event` for `message`, called in arrival order by the read loop) instead.
"""

import base64
import json
import os
import queue
import sys
import threading
import time

import engineio

events = []
inbox = queue.Queue()
closed = threading.Event()
close_reason = []
opened_on = []


class RecordingClient(engineio.Client):
    def _trigger_event(self, event, *args, **kwargs):
        if event == "message":
            inbox.put(args[0])
            return None
        if event == "connect":
            # Called once the handshake is done, before any upgrade.
            opened_on.append(self.current_transport)
            events.append({"ev": "open", "transport": self.current_transport})
        if event == "disconnect":
            close_reason.append(str(args[0]) if args else "")
            events.append({"ev": "close", "reason": close_reason[-1]})
            closed.set()
            return None
        return super()._trigger_event(event, *args, **kwargs)


client = None


def encode_received(data):
    if isinstance(data, str):
        return {"t": data}
    if isinstance(data, (bytes, bytearray)):
        return {"b": base64.b64encode(bytes(data)).decode("ascii"), "kind": type(data).__name__}
    return {"other": type(data).__name__, "text": repr(data)}


def decode_to_send(m):
    if "t" in m:
        return m["t"]
    if "b" in m:
        return base64.b64decode(m["b"])
    raise ValueError("bad message %r" % (m,))


def op_connect(req):
    global client
    if client is not None:
        raise RuntimeError("already connected")
    events.clear()
    closed.clear()
    close_reason.clear()
    opened_on.clear()
    while not inbox.empty():
        inbox.get_nowait()
    opts = req.get("opts") or {}
    timeout = req["timeout_ms"] / 1000.0
    # ENGINEIO_PEER_LOG=1: the client's own log on stderr.
    client = RecordingClient(request_timeout=timeout, logger=bool(os.environ.get("ENGINEIO_PEER_LOG")))
    client.connect(req["url"], transports=opts.get("transports"))
    return {"ok": True, "sid": client.sid, "transport": opened_on[0]}


def op_echo(req):
    if client is None:
        raise RuntimeError("not connected")
    want = len(req["messages"])
    for m in req["messages"]:
        client.send(decode_to_send(m))
    deadline = time.monotonic() + req["timeout_ms"] / 1000.0
    received = []
    while len(received) < want:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(
                "timed out after %d ms with %d of %d echoes (closed: %s)"
                % (req["timeout_ms"], len(received), want, close_reason)
            )
        try:
            received.append(encode_received(inbox.get(timeout=min(left, 0.05))))
        except queue.Empty:
            if closed.is_set() and inbox.empty():
                raise RuntimeError(
                    "closed (%s) after %d of %d echoes" % (close_reason, len(received), want)
                )
    return {"received": received, "transport": client.current_transport}


def op_wait_upgrade(req):
    # python-engineio upgrades inside connect(): the transport is final by now.
    if client is None:
        raise RuntimeError("not connected")
    if client.current_transport != "websocket":
        raise RuntimeError("not upgraded: transport is %s" % client.current_transport)
    return {"ok": True, "transport": client.current_transport}


def op_close(req):
    global client
    if client is None:
        raise RuntimeError("not connected")
    client.disconnect()
    if not closed.wait(req["timeout_ms"] / 1000.0):
        raise RuntimeError("no disconnect event")
    client = None
    return {"ok": True, "reason": close_reason[-1] if close_reason else ""}


OPS = {"connect": op_connect, "echo": op_echo, "wait_upgrade": op_wait_upgrade, "close": op_close}


def main():
    for line in sys.stdin:
        try:
            req = json.loads(line)
            op = OPS.get(req.get("op"))
            if op is None:
                raise ValueError("unknown op %r" % (req.get("op"),))
            answer = op(req)
        except Exception as e:  # reported to the test, which fails with it
            import traceback

            answer = {"error": "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())}
        answer["events"] = list(events)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    if client is not None:
        client.disconnect()


if __name__ == "__main__":
    main()
