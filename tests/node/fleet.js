// Many sessions of the reference client, `engine.io-client` 6.x, in one process, for the tests
// of several nodes behind a load balancer (tests/tests/several_nodes.rs). Spoken to over JSON
// lines like engineio_client.js: one request per stdin line, one answer per stdout line
// (diagnostics go to stderr). tests/python/fleet.py speaks the same protocol.
//
// Every session is opened with `withCredentials: true`, so that the client keeps the cookies
// the balancer or the server sets (its cookie jar) and sends them on every request, the
// WebSocket's included: that is what makes cookie stickiness work outside a browser.
//
// Requests ({"op": NAME, ...}):
//   open {url, mode: "polling"|"websocket"|"upgrade", count, timeout_ms}
//       -> {sessions: [{i, node, transport}]}
//       opens `count` sessions at once; each sends `__node` when open and takes the answer
//       (the node's name, see the echo example's --node) as its node; "upgrade" sessions also
//       wait until they run on WebSocket.
//   echo {count, timeout_ms} -> {sessions, messages}
//       every open session sends `count` messages (text and binary in turn, each carrying its
//       session, sequence number and a checksum) and waits for their echoes, which must come
//       back equal and in order.
//   status {} -> {sessions: [{i, node, mode, open, reason, description, transport}]}
//   reopen {url, timeout_ms} -> {sessions: [{i, node, transport}]}
//       opens a new session, with the same mode, in place of every closed one.
//   close {timeout_ms} -> {closed}
// Anything that went wrong (an `error` event, a wrong or missing echo, a failed open) makes
// the request answer {"error": "...", "errors": [...]}; closes are reported by `status`, and
// the Rust side decides which were expected.

"use strict";

const readline = require("readline");
const { Socket } = require("engine.io-client");

const sessions = [];
let errors = [];

function fail(s, what) {
  errors.push(`session ${s.i} (${s.mode}, node ${s.node}): ${what}`);
}

function modeOpts(mode) {
  switch (mode) {
    case "polling":
      return { transports: ["polling"], upgrade: false };
    case "websocket":
      return { transports: ["websocket"] };
    case "upgrade":
      return { transports: ["polling", "websocket"] };
    default:
      throw new Error("unknown mode " + mode);
  }
}

// A message that names its session and sequence number and carries a checksum of itself.
function message(s, seq) {
  const body = `${s.i}:${s.generation}:${seq}:` + "x".repeat((seq * 37) % 300);
  let sum = 0;
  for (let k = 0; k < body.length; k++) sum = (sum * 31 + body.charCodeAt(k)) >>> 0;
  const text = `${body}:${sum}`;
  return seq % 2 === 0 ? text : Buffer.from(text);
}

function same(a, b) {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

// Resolves when `cond()` holds (checked on every event of any session), rejects after `ms`.
let waiters = [];
function wake() {
  waiters = waiters.filter((w) => !w());
}
function until(cond, ms, what) {
  return new Promise((resolve, reject) => {
    if (cond()) return resolve();
    const check = () => {
      if (!cond()) return false;
      clearTimeout(timer);
      resolve();
      return true;
    };
    const timer = setTimeout(() => {
      waiters = waiters.filter((w) => w !== check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    waiters.push(check);
  });
}

function openOne(s, url, ms) {
  s.generation = (s.generation || 0) + 1;
  s.node = null;
  s.open = false;
  s.reason = null;
  s.description = null;
  s.inbox = [];
  const socket = new Socket(url, { ...modeOpts(s.mode), withCredentials: true });
  s.socket = socket;
  socket.on("open", () => {
    s.open = true;
    socket.send("__node");
    wake();
  });
  socket.on("message", (data) => {
    if (s.node === null) {
      s.node = String(data);
    } else {
      s.inbox.push(data);
    }
    wake();
  });
  socket.on("upgrade", wake);
  socket.on("error", (e) => {
    const d = e && e.description;
    const detail = d === undefined ? "" : ` (${String((d && d.message) || d)})`;
    const ctx = e && e.context && e.context.responseText ? ` ${e.context.responseText}` : "";
    fail(s, "error event: " + String((e && e.message) || e) + detail + ctx);
    wake();
  });
  socket.on("close", (reason, description) => {
    if (s.socket !== socket) return;
    s.open = false;
    s.reason = reason;
    s.description = description ? String(description.message || description) : null;
    wake();
  });
  const ready = () =>
    s.reason !== null ||
    (s.node !== null && (s.mode !== "upgrade" || socket.transport.name === "websocket"));
  return until(ready, ms, `session ${s.i} to open`).then(() => {
    if (s.reason !== null) fail(s, `closed while opening: ${s.reason}`);
  });
}

function summary(s) {
  return {
    i: s.i,
    node: s.node,
    mode: s.mode,
    open: s.open,
    reason: s.reason,
    description: s.description,
    transport: s.socket && s.socket.transport ? s.socket.transport.name : null,
  };
}

async function echoOne(s, count, ms) {
  const sent = [];
  for (let seq = 0; seq < count; seq++) {
    const m = message(s, seq);
    sent.push(m);
    s.socket.send(m);
  }
  await until(() => s.inbox.length >= count || s.reason !== null, ms, `echoes of session ${s.i}`);
  const got = s.inbox.splice(0, count);
  if (got.length < count) fail(s, `${got.length} of ${count} echoes, then closed: ${s.reason}`);
  for (let k = 0; k < got.length; k++) {
    if (!same(got[k], sent[k])) {
      fail(s, `echo ${k} differs: ${String(got[k]).slice(0, 60)}`);
      break;
    }
  }
  return got.length;
}

const OPS = {
  async open(req) {
    const fresh = [];
    for (let k = 0; k < req.count; k++) {
      const s = { i: sessions.length, mode: req.mode };
      sessions.push(s);
      fresh.push(s);
    }
    await Promise.all(fresh.map((s) => openOne(s, req.url, req.timeout_ms)));
    return { sessions: fresh.map(summary) };
  },
  async echo(req) {
    const live = sessions.filter((s) => s.open);
    const counts = await Promise.all(live.map((s) => echoOne(s, req.count, req.timeout_ms)));
    return { sessions: live.length, messages: counts.reduce((a, b) => a + b, 0) };
  },
  async status() {
    return { sessions: sessions.map(summary) };
  },
  async reopen(req) {
    const closed = sessions.filter((s) => !s.open);
    await Promise.all(closed.map((s) => openOne(s, req.url, req.timeout_ms)));
    return { sessions: closed.map(summary) };
  },
  async close(req) {
    const live = sessions.filter((s) => s.open);
    for (const s of live) s.socket.close();
    await until(() => live.every((s) => !s.open), req.timeout_ms, "every session to close");
    return { closed: live.length };
  },
};

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let chain = Promise.resolve();
rl.on("line", (line) => {
  chain = chain.then(async () => {
    let answer;
    try {
      const req = JSON.parse(line);
      const op = OPS[req.op];
      if (!op) throw new Error("unknown op " + req.op);
      answer = await op(req);
    } catch (e) {
      errors.push(String((e && e.stack) || e));
    }
    if (errors.length > 0) {
      answer = { error: errors[0], errors };
      errors = [];
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  });
});
rl.on("close", () => {
  chain.then(() => {
    for (const s of sessions) if (s.open) s.socket.close();
    setTimeout(() => process.exit(0), 50);
  });
});
