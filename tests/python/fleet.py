"""Many sessions of the `python-engineio` client (asyncio, on aiohttp) in one process, for the
tests of several nodes behind a load balancer (tests/tests/several_nodes.rs). It speaks the
protocol of tests/node/fleet.js (see there): open, echo, status, reopen, close.

Each session has its own aiohttp session, whose cookie jar keeps what the balancer or the
server sets and sends it on every request and on the WebSocket. aiohttp's default jar ignores
cookies of a host given as an IP address (127.0.0.1 here), so the jar is made with
`unsafe=True`; with a host name it is not needed.

python-engineio runs `message` handlers as tasks, which may run out of order; messages are
taken where the client's read loop delivers them (`_trigger_event`), in arrival order.
"""

import asyncio
import json
import sys
import zlib

import aiohttp
import engineio

sessions = []
errors = []
changed = asyncio.Event()


def fail(s, what):
    errors.append(f"session {s['i']} ({s['mode']}, node {s['node']}): {what}")


def wake():
    changed.set()


async def until(cond, ms, what):
    deadline = asyncio.get_running_loop().time() + ms / 1000
    while not cond():
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError(f"timed out after {ms} ms waiting for {what}")
        changed.clear()
        try:
            await asyncio.wait_for(changed.wait(), min(left, 0.05))
        except asyncio.TimeoutError:
            pass


MODES = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


class FleetClient(engineio.AsyncClient):
    def __init__(self, s):
        super().__init__(
            http_session=lambda: aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True)
            )
        )
        self.fleet_session = s

    async def _trigger_event(self, event, *args, **kwargs):
        s = self.fleet_session
        if s.get("client") is not self:
            return None
        if event == "message":
            data = args[0]
            if s["node"] is None:
                s["node"] = data if isinstance(data, str) else repr(data)
            else:
                s["inbox"].append(data)
            wake()
            return None
        if event == "disconnect":
            s["open"] = False
            s["reason"] = args[0] if args else "?"
            wake()
            return None
        return await super()._trigger_event(event, *args, **kwargs)


def message(s, seq):
    body = f"{s['i']}:{s['generation']}:{seq}:" + "x" * ((seq * 37) % 300)
    text = f"{body}:{zlib.crc32(body.encode())}"
    return text if seq % 2 == 0 else text.encode()


async def open_one(s, url, ms):
    s["generation"] = s.get("generation", 0) + 1
    s.update(node=None, open=False, reason=None, inbox=[])
    client = FleetClient(s)
    s["client"] = client
    try:
        await asyncio.wait_for(
            client.connect(url, transports=MODES[s["mode"]]), ms / 1000
        )
        s["open"] = True
        await client.send("__node")
        await until(
            lambda: s["node"] is not None or s["reason"] is not None,
            ms,
            f"session {s['i']} to learn its node",
        )
    except Exception as e:  # noqa: BLE001 - reported to the test
        fail(s, f"open failed: {e!r}")
        s["open"] = False
        return
    if s["mode"] == "upgrade" and client.current_transport != "websocket":
        fail(s, f"did not upgrade: {client.current_transport}")


def summary(s):
    c = s.get("client")
    return {
        "i": s["i"],
        "node": s["node"],
        "mode": s["mode"],
        "open": s["open"],
        "reason": s["reason"],
        "description": None,
        "transport": c.current_transport if c else None,
    }


async def echo_one(s, count, ms):
    sent = [message(s, seq) for seq in range(count)]
    for m in sent:
        await s["client"].send(m)
    try:
        await until(
            lambda: len(s["inbox"]) >= count or s["reason"] is not None,
            ms,
            f"echoes of session {s['i']}",
        )
    except TimeoutError as e:
        fail(s, str(e))
    got = s["inbox"][:count]
    del s["inbox"][:count]
    if len(got) < count:
        fail(s, f"{len(got)} of {count} echoes, then closed: {s['reason']}")
    for k, (a, b) in enumerate(zip(got, sent)):
        if a != b:
            fail(s, f"echo {k} differs: {str(a)[:60]}")
            break
    return len(got)


async def op_open(req):
    fresh = []
    for _ in range(req["count"]):
        s = {"i": len(sessions), "mode": req["mode"], "node": None}
        sessions.append(s)
        fresh.append(s)
    await asyncio.gather(*(open_one(s, req["url"], req["timeout_ms"]) for s in fresh))
    return {"sessions": [summary(s) for s in fresh]}


async def op_echo(req):
    live = [s for s in sessions if s["open"]]
    counts = await asyncio.gather(
        *(echo_one(s, req["count"], req["timeout_ms"]) for s in live)
    )
    return {"sessions": len(live), "messages": sum(counts)}


async def op_status(_req):
    return {"sessions": [summary(s) for s in sessions]}


async def op_reopen(req):
    closed = [s for s in sessions if not s["open"]]
    await asyncio.gather(*(open_one(s, req["url"], req["timeout_ms"]) for s in closed))
    return {"sessions": [summary(s) for s in closed]}


async def op_close(req):
    live = [s for s in sessions if s["open"]]
    await asyncio.gather(*(s["client"].disconnect() for s in live))
    await until(
        lambda: all(not s["open"] for s in live),
        req["timeout_ms"],
        "every session to close",
    )
    return {"closed": len(live)}


OPS = {
    "open": op_open,
    "echo": op_echo,
    "status": op_status,
    "reopen": op_reopen,
    "close": op_close,
}


async def main():
    global errors
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while True:
        line = await reader.readline()
        if not line:
            break
        answer = None
        try:
            req = json.loads(line)
            answer = await OPS[req["op"]](req)
        except Exception as e:  # noqa: BLE001 - reported to the test
            errors.append(repr(e))
        if errors:
            answer = {"error": errors[0], "errors": errors}
            errors = []
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    for s in sessions:
        if s["open"]:
            await s["client"].disconnect()


asyncio.run(main())
