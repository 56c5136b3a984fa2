// Echo server on the reference server, `engine.io` 6.x, for tests of our client against it
// (tests/tests/peer_servers.rs starts it; engineio_tests::PeerServer::node runs it).
//
//   node engineio_server.js [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]
//                           [--per-message-deflate 0|1]
//
// Listens on 127.0.0.1 on a free port, `allowEIO3: true`, and prints one line
// `listening on http://ADDR` on stdout when ready. Every message goes back on its session as
// it came (text as text, binary as binary), but the text `__extensions`, answered with the
// WebSocket extensions agreed on the session's transport. Exits when stdin closes (the harness's handle is
// gone) or on SIGTERM. Diagnostics go to stderr.
//
// The packages are found through NODE_PATH (set by the Rust harness).

"use strict";

const http = require("http");
const engine = require("engine.io");

const opts = { allowEIO3: true };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`bad value for ${args[i]}`);
  switch (args[i]) {
    case "--ping-interval":
      opts.pingInterval = v;
      break;
    case "--ping-timeout":
      opts.pingTimeout = v;
      break;
    case "--max-payload":
      opts.maxHttpBufferSize = v;
      break;
    case "--per-message-deflate":
      // The reference's option (its threshold: 1024 bytes).
      opts.perMessageDeflate = v !== 0;
      break;
    default:
      throw new Error(`unknown option ${args[i]}`);
  }
}

const server = http.createServer();
const eio = engine.attach(server, opts);
eio.on("connection", (socket) => {
  socket.on("message", (data) => {
    // A test asks what the WebSocket agreed to (the `ws` socket under the transport).
    if (data === "__extensions") {
      const ws = socket.transport && socket.transport.socket;
      socket.send(ws && typeof ws.extensions === "string" ? ws.extensions : "");
      return;
    }
    socket.send(data);
  });
});
server.listen(0, "127.0.0.1", () => {
  const { address, port } = server.address();
  process.stdout.write(`listening on http://${address}:${port}\n`);
});

function stop() {
  eio.close();
  server.close();
  setTimeout(() => process.exit(0), 100).unref();
}
process.stdin.on("end", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
