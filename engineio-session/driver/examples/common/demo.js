// The demo page: a chat room and a shared drawing board with live cursors over the official
// browser client of Engine.IO. Options come from the page's query string:
// ?transports=polling | websocket | polling,websocket and ?upgrade=false.
"use strict";

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const options = { closeOnBeforeunload: true };
if (query.has("transports")) options.transports = query.get("transports").split(",");
if (query.get("upgrade") === "false") options.upgrade = false;

// engine.io-client 6.6 exposes a function (`eio(opts)`); older 6.x builds had `eio.Socket`.
const socket = typeof eio === "function" ? eio(options) : new eio.Socket(options);
socket.binaryType = "arraybuffer";

const palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d"];
const colorOf = (n) => palette[n % palette.length];

// Everything the page knows, for people and for the browser test.
const state = {
  status: "connecting", sid: null, n: null, transport: null, runtime: null,
  upgrades: [], rtt: null, textIn: 0, binaryIn: 0, strokesIn: 0, cursorsIn: 0,
  chat: [], peers: {}, metrics: null, rate: null,
};
window.demo = { state, socket };

const log = (text, cls, who) => {
  const d = document.createElement("div");
  if (who !== undefined) {
    const w = document.createElement("span");
    w.className = "who";
    w.style.color = colorOf(who.n);
    w.textContent = `${who.sid.slice(0, 6)}${who.n === state.n ? " (you)" : ""}:`;
    d.appendChild(w);
  }
  d.appendChild(document.createTextNode(text));
  if (cls) d.className = cls;
  const box = $("log");
  box.appendChild(d);
  box.scrollTop = box.scrollHeight;
};

const showTransport = () => {
  const name = socket.transport ? socket.transport.name : "–";
  state.transport = name;
  // The WebSocket extensions agreed (permessage-deflate with this demo's server).
  const ws = socket.transport && socket.transport.ws;
  state.extensions = ws && typeof ws.extensions === "string" ? ws.extensions : "";
  $("transport").textContent = name;
  $("transport").className = `pill ${name}`;
};

const showPeers = () => {
  const ul = $("peers");
  ul.textContent = "";
  for (const [n, p] of Object.entries(state.peers)) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.style.background = colorOf(Number(n));
    name.appendChild(dot);
    name.appendChild(document.createTextNode(p.sid.slice(0, 8) + (Number(n) === state.n ? " (you)" : "")));
    const t = document.createElement("span");
    t.textContent = p.transport;
    li.append(name, t);
    ul.appendChild(li);
  }
};

// --- connection ------------------------------------------------------------------------
const openedAt = performance.now();
socket.on("open", () => {
  state.status = "open";
  state.sid = socket.id;
  $("status").textContent = "connected";
  $("sid").textContent = socket.id;
  showTransport();
  log(`connected over ${state.transport} in ${Math.round(performance.now() - openedAt)} ms`, "sys");
});
let upgradeStart = 0;
socket.on("upgrading", (t) => {
  upgradeStart = performance.now();
  log(`probing ${t.name}…`, "sys");
});
socket.on("upgrade", (t) => {
  const from = state.transport;
  showTransport();
  state.upgrades.push({ from, to: t.name });
  log(`upgraded ${from} → ${t.name} (${Math.round(performance.now() - upgradeStart)} ms)`, "sys");
  if (state.n !== null && state.peers[state.n]) state.peers[state.n].transport = t.name;
  showPeers();
});
socket.on("close", (reason) => {
  state.status = "closed";
  $("status").textContent = `closed: ${reason}`;
  log(`closed: ${reason}`, "sys");
});

socket.on("message", (data) => {
  if (typeof data === "string") {
    state.textIn += 1;
    onText(JSON.parse(data));
  } else {
    state.binaryIn += 1;
    onBinary(new DataView(data));
  }
  $("p-in").textContent = `${state.textIn} / ${state.binaryIn}`;
});

function onText(m) {
  switch (m.t) {
    case "welcome":
      state.n = m.n;
      state.runtime = m.runtime;
      $("runtime").textContent = m.runtime;
      for (const p of m.peers) state.peers[p.n] = { sid: p.sid, transport: p.transport };
      state.peers[m.n] = { sid: m.sid, transport: state.transport };
      log(`you are ${m.sid.slice(0, 6)}; ${m.peers.length} other(s) here`, "sys");
      showPeers();
      break;
    case "join":
      state.peers[m.n] = { sid: m.sid, transport: m.transport };
      log(`${m.sid.slice(0, 6)} joined over ${m.transport}`, "sys");
      showPeers();
      break;
    case "leave":
      delete state.peers[m.n];
      removeCursor(m.n);
      log(`${m.sid.slice(0, 6)} left`, "sys");
      showPeers();
      break;
    case "transport":
      if (state.peers[m.n]) state.peers[m.n].transport = m.transport;
      showPeers();
      break;
    case "chat":
      state.chat.push({ n: m.n, sid: m.sid, text: m.text });
      log(m.text, "", m);
      break;
    case "pong":
      state.rtt = performance.now() - m.at;
      $("rtt").textContent = `${state.rtt.toFixed(1)} ms`;
      break;
  }
}

// --- chat and latency ----------------------------------------------------------------------
$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("text");
  if (input.value && state.status === "open") socket.send(JSON.stringify({ t: "chat", text: input.value }));
  input.value = "";
});
setInterval(() => {
  if (state.status === "open") socket.send(JSON.stringify({ t: "ping", at: performance.now() }));
}, 1000);

// --- drawing board: binary messages ----------------------------------------------------------
// From a page: [1, x0, y0, x1, y1] a stroke, [2, x, y] the cursor, [3] the cursor left; one
// byte of kind, then u16 little-endian coordinates scaled to 0..65535. The server puts the
// sender's number (u16) in front when it relays them.
const board = $("board");
const ctx = board.getContext("2d");
ctx.lineCap = "round";
ctx.lineWidth = 4;
const scale = 65535;

const line = (n, x0, y0, x1, y1) => {
  ctx.strokeStyle = colorOf(n);
  ctx.beginPath();
  ctx.moveTo((x0 / scale) * board.width, (y0 / scale) * board.height);
  ctx.lineTo((x1 / scale) * board.width, (y1 / scale) * board.height);
  ctx.stroke();
};

const sendBinary = (values) => {
  if (state.status !== "open") return;
  const buf = new ArrayBuffer(1 + 2 * (values.length - 1));
  const v = new DataView(buf);
  v.setUint8(0, values[0]);
  values.slice(1).forEach((x, i) => v.setUint16(1 + 2 * i, x, true));
  socket.send(buf);
};

const point = (e) => {
  const r = board.getBoundingClientRect();
  const clamp = (a) => Math.min(1, Math.max(0, a));
  return [Math.round(clamp((e.clientX - r.left) / r.width) * scale), Math.round(clamp((e.clientY - r.top) / r.height) * scale)];
};

let last = null;
let lastCursor = 0;
board.addEventListener("pointerdown", (e) => {
  board.setPointerCapture(e.pointerId);
  last = point(e);
});
board.addEventListener("pointermove", (e) => {
  const p = point(e);
  if (last) {
    line(state.n ?? 0, last[0], last[1], p[0], p[1]);
    sendBinary([1, last[0], last[1], p[0], p[1]]);
    last = p;
  }
  const now = performance.now();
  if (now - lastCursor > 40) {
    lastCursor = now;
    sendBinary([2, p[0], p[1]]);
  }
});
const stop = () => { last = null; };
board.addEventListener("pointerup", stop);
board.addEventListener("pointercancel", stop);
board.addEventListener("pointerleave", () => sendBinary([3]));

const cursors = {};
function removeCursor(n) {
  if (cursors[n]) cursors[n].remove();
  delete cursors[n];
}
function onBinary(v) {
  const n = v.getUint16(0, true);
  const kind = v.getUint8(2);
  const at = (i) => v.getUint16(3 + 2 * i, true);
  if (kind === 1 && v.byteLength >= 11) {
    state.strokesIn += 1;
    line(n, at(0), at(1), at(2), at(3));
  } else if (kind === 2 && v.byteLength >= 7) {
    state.cursorsIn += 1;
    let c = cursors[n];
    if (!c) {
      c = cursors[n] = document.createElement("div");
      c.className = "cursor";
      c.style.color = colorOf(n);
      c.textContent = (state.peers[n] ? state.peers[n].sid : String(n)).slice(0, 6);
      $("board-wrap").appendChild(c);
    }
    c.style.left = `${(at(0) / scale) * 100}%`;
    c.style.top = `${(at(1) / scale) * 100}%`;
  } else if (kind === 3) {
    removeCursor(n);
  }
}

// --- the server's view ----------------------------------------------------------------------
let previous = null;
async function refreshMetrics() {
  let m;
  try {
    const r = await fetch("/metrics", { cache: "no-store" });
    m = await r.json();
  } catch (_) {
    return; // the server is gone or the page is unloading
  }
  const now = performance.now();
  if (previous) {
    const dt = (now - previous.at) / 1000;
    const moved = m.messages_in + m.messages_out - previous.m.messages_in - previous.m.messages_out;
    state.rate = dt > 0 ? moved / dt : 0;
    $("m-rate").textContent = state.rate.toFixed(1);
  }
  previous = { at: now, m };
  state.metrics = m;
  $("m-open").textContent = m.sessions_open;
  $("m-split").textContent = `${m.on_polling} / ${m.on_websocket}`;
  $("m-total").textContent = m.sessions_total;
  $("m-upgrades").textContent = m.upgrades;
  const kib = (b) => (b / 1024).toFixed(b < 102400 ? 1 : 0);
  $("m-bytes").textContent = `${kib(m.bytes_in)} / ${kib(m.bytes_out)}`;
}
refreshMetrics();
setInterval(refreshMetrics, 1000);
