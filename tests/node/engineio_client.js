// Client peer for tests/tests/interop_clients.rs: the reference client, `engine.io-client`
// 6.x (package `engine.io-client`) or 3.x (npm alias `eioc3`), driven over JSON lines.
//
// One long-running process, one socket at a time. Each stdin line is one JSON request, each
// answer one stdout line (nothing else goes to stdout; diagnostics go to stderr).
//
// Messages travel as {"t": "<text>"} or {"b": "<base64 of the bytes>"}. Received messages are
// reported exactly as the client delivered them: a string as {"t": ...} (a string with lone
// surrogates as {"ill_formed": "<JSON text>"}), binary data (Buffer, ArrayBuffer, typed array)
// as {"b": ...} with {"kind": "<constructor name>"}, `undefined` as {"u": true}, anything else
// as {"other": "<type>"}; each also says which transport was current when it arrived
// ({"via": "polling"}). The Rust side decides what is acceptable.
//
// Requests ({"op": NAME, ...}):
//   connect {client: "6"|"3", url, opts, on_open: [M], timeout_ms}
//       -> {ok, sid, transport (opened on)}
//       opts go to the client as they are, except `transports`: names, where "fetch" (6.x
//       only) selects the Fetch polling transport instead of XHR. `on_open` messages are sent
//       in the open handler, before any upgrade can start: on the first transport.
//   echo {messages: [M], timeout_ms}  -> {received: [M], transport, events}
//       sends every message, then waits until as many messages have arrived (counting any
//       that arrived earlier and were not yet taken).
//   receive {count, timeout_ms}  -> {received: [M], transport, events}
//       waits for `count` messages without sending (the echoes of `on_open`).
//   wait_upgrade {timeout_ms}  -> {ok, transport, events}
//   wait_heartbeats {count, timeout_ms}  -> {ok, heartbeats}
//       waits until `count` more heartbeats have happened (see `heartbeats` below).
//   close {timeout_ms}  -> {ok, reason, heartbeats}
//   extensions {}  -> {ok, extensions}: the WebSocket extensions agreed on the transport in
//       use ("" if none, or on polling).
// Any failure answers {"error": "...", "events": [...]}.
//
// JSONP (`forceJSONP`, 3.x only) needs a DOM: `<script>` elements for polls and a hidden
// form/iframe for POSTs. installDomShim() below provides just enough of one, doing what a
// browser does with the client's elements over Node's http module: a script's `src` is fetched
// with GET and its body run in this global scope; a form submit POSTs its textarea as
// `application/x-www-form-urlencoded` and then fires the iframe's `onload`. The client's own
// JSONP code runs unchanged.
//
// The packages are found through NODE_PATH (set by the Rust harness).

"use strict";

const readline = require("readline");
const http = require("http");
const vm = require("vm");

let socket = null;
let inbox = [];
let events = [];
let closed = null;
let waiters = [];
// Heartbeats completed: 6.x emits "ping" when the server's ping arrives (it answers at once);
// 3.x pings the server itself and emits "pong" when the server's answer arrives.
let heartbeats = 0;

function log(e) {
  if (e !== null) events.push(e);
  const still = [];
  for (const w of waiters) {
    if (!w()) still.push(w);
  }
  waiters = still;
}

// Resolves when `cond()` holds (checked after every event), or rejects after `ms`.
function until(cond, ms, what) {
  return new Promise((resolve, reject) => {
    if (cond()) return resolve();
    const timer = setTimeout(() => {
      waiters = waiters.filter((w) => w !== check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const check = () => {
      if (!cond()) return false;
      clearTimeout(timer);
      resolve();
      return true;
    };
    waiters.push(check);
  });
}

function encodeReceived(data) {
  if (typeof data === "string") {
    return data.isWellFormed() ? { t: data } : { ill_formed: JSON.stringify(data) };
  }
  if (data === undefined) return { u: true };
  if (Buffer.isBuffer(data)) return { b: data.toString("base64"), kind: "Buffer" };
  if (data instanceof ArrayBuffer) {
    return { b: Buffer.from(data).toString("base64"), kind: "ArrayBuffer" };
  }
  if (ArrayBuffer.isView(data)) {
    return {
      b: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
      kind: data.constructor.name,
    };
  }
  return { other: typeof data, text: String(data) };
}

function decodeToSend(m) {
  if (m.t !== undefined) return m.t;
  if (m.b !== undefined) return Buffer.from(m.b, "base64");
  throw new Error("bad message " + JSON.stringify(m));
}

function transportName() {
  return socket && socket.transport ? socket.transport.name : null;
}

function makeSocket(client, url, opts) {
  if (client === "6") {
    const eio = require("engine.io-client");
    if (opts.transports && opts.transports.includes("fetch")) {
      const map = { fetch: eio.Fetch, polling: eio.NodeXHR, websocket: eio.NodeWebSocket };
      opts = { ...opts, transports: opts.transports.map((t) => map[t]) };
    }
    return new eio.Socket(url, opts);
  }
  if (client === "3") {
    if (opts.forceJSONP) installDomShim();
    return require("eioc3")(url, opts);
  }
  throw new Error("unknown client " + client);
}

async function connect(req) {
  if (socket) throw new Error("already connected");
  inbox = [];
  events = [];
  closed = null;
  heartbeats = 0;
  let opened = null;
  let failed = null;
  socket = makeSocket(req.client, req.url, req.opts || {});
  socket.on("open", () => {
    opened = transportName();
    log({ ev: "open", transport: opened });
    for (const m of req.on_open || []) socket.send(decodeToSend(m));
  });
  socket.on("message", (data) => {
    inbox.push({ ...encodeReceived(data), via: transportName() });
    log(null);
  });
  socket.on(req.client === "3" ? "pong" : "ping", () => {
    heartbeats++;
    log(null);
  });
  socket.on("upgrading", (t) => log({ ev: "upgrading", transport: t && t.name }));
  socket.on("upgrade", (t) => log({ ev: "upgrade", transport: t && t.name }));
  socket.on("upgradeError", (e) => log({ ev: "upgradeError", error: String(e && e.message) }));
  socket.on("error", (e) => {
    failed = String((e && e.message) || e);
    log({ ev: "error", error: failed });
  });
  socket.on("close", (reason, desc) => {
    closed = String(reason);
    log({ ev: "close", reason: closed, desc: desc && String(desc.message || desc.description || desc) });
  });
  await until(() => opened !== null || closed !== null || failed !== null, req.timeout_ms, "open");
  if (opened === null) throw new Error(`did not open: ${failed || closed}`);
  // The transport it opened on (an upgrade may already be under way).
  return { ok: true, sid: socket.id, transport: opened };
}

async function echo(req) {
  if (!socket) throw new Error("not connected");
  const want = req.messages.length;
  for (const m of req.messages) socket.send(decodeToSend(m));
  await until(() => inbox.length >= want || closed !== null, req.timeout_ms, `${want} echoes`);
  if (inbox.length < want) throw new Error(`closed (${closed}) after ${inbox.length} of ${want} echoes`);
  const received = inbox.splice(0, want);
  return { received, transport: transportName() };
}

async function receive(req) {
  if (!socket) throw new Error("not connected");
  const want = req.count;
  await until(() => inbox.length >= want || closed !== null, req.timeout_ms, `${want} messages`);
  if (inbox.length < want) throw new Error(`closed (${closed}) after ${inbox.length} of ${want} messages`);
  return { received: inbox.splice(0, want), transport: transportName() };
}

async function waitUpgrade(req) {
  if (!socket) throw new Error("not connected");
  await until(
    () => transportName() === "websocket" || closed !== null,
    req.timeout_ms,
    "the upgrade to websocket"
  );
  if (closed !== null) throw new Error(`closed (${closed}) before upgrading`);
  return { ok: true, transport: transportName() };
}

async function close(req) {
  if (!socket) throw new Error("not connected");
  socket.close();
  await until(() => closed !== null, req.timeout_ms, "close");
  const reason = closed;
  socket = null;
  return { ok: true, reason, heartbeats };
}

async function waitHeartbeats(req) {
  if (!socket) throw new Error("not connected");
  const want = heartbeats + req.count;
  await until(() => heartbeats >= want || closed !== null, req.timeout_ms, `${req.count} heartbeats`);
  if (closed !== null) throw new Error(`closed (${closed}) while waiting for heartbeats`);
  return { ok: true, heartbeats };
}

/// The WebSocket extensions agreed on the transport in use ("" on polling).
async function extensions() {
  if (!socket) throw new Error("not connected");
  const ws = socket.transport && socket.transport.ws;
  return { ok: true, extensions: ws && typeof ws.extensions === "string" ? ws.extensions : "" };
}

const OPS = {
  connect,
  echo,
  receive,
  wait_upgrade: waitUpgrade,
  wait_heartbeats: waitHeartbeats,
  close,
  extensions,
};

// ---- a DOM just large enough for engine.io-client 3.x's JSONP transport ----------------------

function installDomShim() {
  if (global.document) return;
  class Node {
    constructor(tag) {
      this.tagName = tag;
      this.children = [];
      this.parentNode = null;
      this.style = {};
      this.attributes = {};
    }
    setAttribute(k, v) {
      this.attributes[k] = v;
    }
    appendChild(c) {
      c.parentNode = this;
      this.children.push(c);
      if (c.tagName === "script") loadScript(c);
      return c;
    }
    insertBefore(c) {
      return this.appendChild(c);
    }
    removeChild(c) {
      const i = this.children.indexOf(c);
      if (i < 0) throw new Error("not a child");
      this.children.splice(i, 1);
      c.parentNode = null;
      return c;
    }
    submit() {
      const area = this.children.find((c) => c.tagName === "textarea");
      const iframe = this.children.find((c) => c.tagName === "iframe");
      // What a browser sends for a form with one field (UTF-8, spaces as '+').
      const body = new URLSearchParams({ [area.name]: area.value }).toString();
      request("POST", this.action, body, (err) => {
        if (err) log({ ev: "jsonp_post_error", error: String(err) });
        if (iframe && iframe.onload) iframe.onload();
      });
    }
  }
  function loadScript(script) {
    request("GET", script.src, null, (err, status, body) => {
      if (err || status !== 200) {
        if (script.onerror) script.onerror(err || new Error(`status ${status}`));
        return;
      }
      try {
        vm.runInThisContext(body);
      } catch (e) {
        log({ ev: "jsonp_script_error", error: String(e), body: body.slice(0, 200) });
        if (script.onerror) script.onerror(e);
      }
    });
  }
  function request(method, url, body, cb) {
    const headers = {};
    if (body !== null) {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      headers["Content-Length"] = Buffer.byteLength(body);
    }
    const r = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => cb(null, res.statusCode, Buffer.concat(chunks).toString("utf8")));
      res.on("error", (e) => cb(e));
    });
    r.on("error", (e) => cb(e));
    if (body !== null) r.write(body);
    r.end();
  }
  const body = new Node("body");
  const head = new Node("head");
  global.document = {
    body,
    head,
    createElement(tag) {
      // `<iframe name=...>` is old IE's syntax: a modern DOM throws, and the client falls back.
      if (tag.includes("<")) throw new Error("InvalidCharacterError");
      return new Node(tag);
    },
    getElementsByTagName() {
      return [];
    },
  };
}

// ---- main loop -------------------------------------------------------------------------------

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
      answer.events = events;
    } catch (e) {
      answer = { error: String((e && e.stack) || e), events };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  });
});
rl.on("close", () => {
  chain.then(() => {
    if (socket) socket.close();
    setTimeout(() => process.exit(0), 50);
  });
});
