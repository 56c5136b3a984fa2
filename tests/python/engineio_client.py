"""Client peer for tests/tests/interop_clients.rs: the `python-engineio` client over JSON lines.

Speaks the same protocol as tests/node/engineio_client.js (see there): one JSON request per
stdin line, one JSON answer per stdout line; diagnostics go to stderr.

  connect {url, opts: {transports}, on_open: [M], timeout_ms}
                                                 -> {ok, sid, transport (opened on)}
  echo {messages: [M], timeout_ms}               -> {received: [M], transport}
  receive {count, timeout_ms}                    -> {received: [M], transport}
  wait_upgrade {timeout_ms}                      -> {ok, transport}
  wait_heartbeats {count, timeout_ms}            -> {ok, heartbeats}
  close {timeout_ms}                             -> {ok, reason, heartbeats}

Heartbeats are the server's pings as the client's read loop receives them.

Messages are {"t": text} or {"b": base64}; received ones are reported as delivered: str as
{"t"}, bytes as {"b"}, anything else as {"other": type name}, each with the transport current
on arrival ({"via": ...}). `on_open` messages are sent from the connect handler, which
python-engineio calls after the handshake and before it tries the upgrade (which it completes
inside connect()); they are queued and leave on the final transport.

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
import engineio.packet

events = []
inbox = queue.Queue()
on_open = []
heartbeats = [0]
closed = threading.Event()
close_reason = []
opened_on = []


class RecordingClient(engineio.Client):
    def _receive_packet(self, pkt):
        if pkt.packet_type == engineio.packet.PING:
            heartbeats[0] += 1
        return super()._receive_packet(pkt)

    def _trigger_event(self, event, *args, **kwargs):
        if event == "message":
            inbox.put((args[0], self.current_transport))
            return None
        if event == "connect":
            # Called once the handshake is done, before any upgrade.
            opened_on.append(self.current_transport)
            events.append({"ev": "open", "transport": self.current_transport})
            for m in on_open:
                self.send(decode_to_send(m))
        if event == "disconnect":
            close_reason.append(str(args[0]) if args else "")
            events.append({"ev": "close", "reason": close_reason[-1]})
            closed.set()
            return None
        return super()._trigger_event(event, *args, **kwargs)


client = None


def encode_received(item):
    data, via = item
    if isinstance(data, str):
        return {"t": data, "via": via}
    if isinstance(data, (bytes, bytearray)):
        b64 = base64.b64encode(bytes(data)).decode("ascii")
        return {"b": b64, "kind": type(data).__name__, "via": via}
    return {"other": type(data).__name__, "text": repr(data), "via": via}


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
    on_open[:] = req.get("on_open") or []
    heartbeats[0] = 0
    timeout = req["timeout_ms"] / 1000.0
    # ENGINEIO_PEER_LOG=1: the client's own log on stderr.
    client = RecordingClient(request_timeout=timeout, logger=bool(os.environ.get("ENGINEIO_PEER_LOG")))
    client.connect(req["url"], transports=opts.get("transports"))
    return {"ok": True, "sid": client.sid, "transport": opened_on[0]}


def op_echo(req):
    if client is None:
        raise RuntimeError("not connected")
    for m in req["messages"]:
        client.send(decode_to_send(m))
    return wait_for(len(req["messages"]), req["timeout_ms"])


def op_receive(req):
    if client is None:
        raise RuntimeError("not connected")
    return wait_for(req["count"], req["timeout_ms"])


def wait_for(want, timeout_ms):
    deadline = time.monotonic() + timeout_ms / 1000.0
    received = []
    while len(received) < want:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(
                "timed out after %d ms with %d of %d echoes (closed: %s)"
                % (timeout_ms, len(received), want, close_reason)
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


def op_wait_heartbeats(req):
    if client is None:
        raise RuntimeError("not connected")
    want = heartbeats[0] + req["count"]
    deadline = time.monotonic() + req["timeout_ms"] / 1000.0
    while heartbeats[0] < want:
        if closed.is_set():
            raise RuntimeError("closed (%s) while waiting for heartbeats" % (close_reason,))
        if time.monotonic() > deadline:
            raise RuntimeError("timed out with %d heartbeats" % heartbeats[0])
        time.sleep(0.01)
    return {"ok": True, "heartbeats": heartbeats[0]}


def op_close(req):
    global client
    if client is None:
        raise RuntimeError("not connected")
    client.disconnect()
    if not closed.wait(req["timeout_ms"] / 1000.0):
        raise RuntimeError("no disconnect event")
    client = None
    return {
        "ok": True,
        "reason": close_reason[-1] if close_reason else "",
        "heartbeats": heartbeats[0],
    }


OPS = {
    "connect": op_connect,
    "echo": op_echo,
    "receive": op_receive,
    "wait_upgrade": op_wait_upgrade,
    "wait_heartbeats": op_wait_heartbeats,
    "close": op_close,
}


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
