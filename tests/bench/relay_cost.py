#!/usr/bin/env python3
"""The cost of a relayed request in a cluster on Redis (`echo --cluster`), against the same
request served by the session's owner directly.

Starts Redis and two nodes (n1, n2) of our `echo` example, pinned to cores, opens sessions on
n1, and echoes small messages one at a time:

  polling, direct:   POST and GET to n1 (the owner)
  polling, relayed:  POST and GET to n2, which relays both to n1 through Redis
  websocket, direct: a session upgraded on n1
  websocket, relayed: a session of n1 upgraded through n2 (its bytes relayed both ways)

and prints, per echo: the round trip (median and p99) and the CPU (user + system) of each
node and of Redis, from /proc. Loopback only.

  cargo build --release -p engineio-tokio --features cluster --example echo
  python3 tests/bench/relay_cost.py [--echo target/release/examples/echo] [--count 3000]

Needs Debian's redis-server and the `websocket-client` package (the tests' venv has it:
target/py-peers/engineio-*/bin/python).
"""

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import websocket  # websocket-client


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def handshake(port):
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("GET", "/engine.io/?EIO=4&transport=polling")
    body = c.getresponse().read().decode()
    sid = body.split('"sid":"')[1].split('"')[0]
    return sid


def polling_echo(port, sid, count):
    c = http.client.HTTPConnection("127.0.0.1", port)
    path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    times = []
    for i in range(count):
        t = time.perf_counter()
        c.request("POST", path, body=f"4m{i}", headers={"Content-Type": "text/plain"})
        r = c.getresponse()
        assert r.read() == b"ok", "POST not taken"
        c.request("GET", path)
        body = c.getresponse().read().decode()
        while body.startswith("2"):  # a ping came first: answer it, poll again
            c.request("POST", path, body="3")
            c.getresponse().read()
            c.request("GET", path)
            body = c.getresponse().read().decode()
        assert body == f"4m{i}", f"echo {i}: {body!r}"
        times.append(time.perf_counter() - t)
    return times


def upgraded(owner_port, via_port):
    sid = handshake(owner_port)
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{via_port}/engine.io/?EIO=4&transport=websocket&sid={sid}"
    )
    ws.send("2probe")
    assert ws.recv() == "3probe"
    ws.send("5")
    return ws


def ws_echo(ws, count):
    times = []
    for i in range(count):
        t = time.perf_counter()
        ws.send(f"4m{i}")
        m = ws.recv()
        while m == "2":
            ws.send("3")
            m = ws.recv()
        assert m == f"4m{i}", f"echo {i}: {m!r}"
        times.append(time.perf_counter() - t)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", default="target/release/examples/echo")
    ap.add_argument("--count", type=int, default=3000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    rport, p1, p2 = free_port(), free_port(), free_port()
    procs = []
    try:
        redis = subprocess.Popen(
            ["taskset", "-c", "1", "redis-server", "--port", str(rport), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        procs.append(redis)
        wait_port(rport)
        url = f"redis://127.0.0.1:{rport}"
        nodes = []
        for name, port in (("n1", p1), ("n2", p2)):
            p = subprocess.Popen(
                ["taskset", "-c", "0", args.echo, "--addr", f"127.0.0.1:{port}",
                 "--node", name, "--cluster", url],
                stdout=subprocess.DEVNULL,
            )
            procs.append(p)
            nodes.append(p)
            wait_port(port)
        time.sleep(0.5)
        n = args.count
        print(f"{n} echoes each, one at a time; client on core 1 with Redis, nodes on core 0")
        print(f"{'scenario':<20} {'median us':>10} {'p99 us':>8} {'n1 cpu us':>10} "
              f"{'n2 cpu us':>10} {'redis cpu us':>12}")
        runs = [
            ("polling direct", lambda: polling_echo(p1, handshake(p1), n)),
            ("polling relayed", lambda: polling_echo(p2, handshake(p1), n)),
            ("websocket direct", lambda: ws_echo(upgraded(p1, p1), n)),
            ("websocket relayed", lambda: ws_echo(upgraded(p1, p2), n)),
        ]
        for label, run in runs:
            before = [cpu_seconds(p.pid) for p in (nodes[0], nodes[1], redis)]
            times = run()
            after = [cpu_seconds(p.pid) for p in (nodes[0], nodes[1], redis)]
            cpu = [(a - b) / n * 1e6 for a, b in zip(after, before)]
            times.sort()
            med = statistics.median(times) * 1e6
            p99 = times[int(len(times) * 0.99)] * 1e6
            print(f"{label:<20} {med:>10.0f} {p99:>8.0f} {cpu[0]:>10.1f} {cpu[1]:>10.1f} "
                  f"{cpu[2]:>12.1f}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


if __name__ == "__main__":
    os.sched_setaffinity(0, {1})
    main()
