"""Echo server on `python-engineio` (asyncio, aiohttp), for tests of our client against it
(tests/tests/peer_servers.rs starts it; engineio_tests::PeerServer::python runs it).

    python engineio_server.py [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]

Listens on 127.0.0.1 on a free port and prints one line `listening on http://ADDR` on stdout
when ready. Every message goes back on its session as it came (text as text, binary as
binary). python-engineio serves protocol 4 only, and announces pingInterval in whole seconds
(it truncates: 1500 ms is announced, and used, as 1000 ms), so pass multiples of 1000. Exits when stdin closes (the harness's handle
is gone) or on SIGTERM. Diagnostics go to stderr.
"""

import argparse
import asyncio
import signal
import sys

import engineio
from aiohttp import web


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ping-interval", type=int, default=25000)
    parser.add_argument("--ping-timeout", type=int, default=20000)
    parser.add_argument("--max-payload", type=int, default=1000000)
    args = parser.parse_args()

    eio = engineio.AsyncServer(
        async_mode="aiohttp",
        ping_interval=args.ping_interval / 1000.0,
        ping_timeout=args.ping_timeout / 1000.0,
        max_http_buffer_size=args.max_payload,
        cors_allowed_origins="*",
        # In order: with async handlers each message would get a task of its own.
        async_handlers=False,
    )

    @eio.on("message")
    async def message(sid, data):
        await eio.send(sid, data)

    app = web.Application()
    eio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = site._server.sockets[0].getsockname()[:2]
    sys.stdout.write("listening on http://%s:%d\n" % (host, port))
    sys.stdout.flush()

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    # stdin closing (the harness dropped its handle) also ends the server.
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(65536) or done.set())
    await done.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
