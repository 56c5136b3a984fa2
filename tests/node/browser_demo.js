// Drives the demo page (engineio-{tokio,smol}/examples/demo.rs) in headless Chromium with
// playwright-core: several pages chat and draw together (text and binary messages both ways),
// over the upgrade to WebSocket, over polling only and over WebSocket only; a reloaded page's
// old session closes on the server; closing every page brings the server's open sessions back
// to zero. Any page error, console error, failed request or HTTP error status fails the run.
//
// node browser_demo.js URL OUTDIR RUNTIME
//
// URL is the demo's address (http://127.0.0.1:PORT/), OUTDIR where screenshots go, RUNTIME
// the name the page must show for the server (engineio-tokio, engineio-smol). Environment:
// ENGINEIO_CHROMIUM names the browser (default /usr/bin/chromium). Prints `ok CASE (MS ms)`
// per case and `done` at the end on stdout; on failure, the reason on stderr and exit code 1.
// Every wait is bounded; the whole run gives up after 150 s.
"use strict";

const path = require("path");
const fs = require("fs");
const { chromium } = require("playwright-core");

// `mode` "cluster": the demo runs as several nodes behind a round-robin balancer at `url`
// (the cluster case alone runs).
const [url, outDir, runtime, echoUrl, mode] = process.argv.slice(2);
if (!url || !outDir || !runtime || !echoUrl) {
  console.error("usage: node browser_demo.js URL OUTDIR RUNTIME ECHO_WS_URL");
  process.exit(2);
}
const executablePath = process.env.ENGINEIO_CHROMIUM || "/usr/bin/chromium";
const WAIT = 15000;

let browser = null;
const fail = async (message) => {
  console.error(`FAIL: ${message}`);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
};
setTimeout(() => fail("the whole run took more than 150 s"), 150000).unref();

// Problems seen on any page; checked after every case.
const problems = [];
const pages = {};

function watch(page, label) {
  const w = { leaving: false };
  page.on("pageerror", (e) => problems.push(`${label}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`${label}: console error: ${m.text()}`);
  });
  page.on("requestfailed", (r) => {
    const why = r.failure() ? r.failure().errorText : "?";
    // Requests in flight when a page reloads or closes are aborted, as they should be.
    if (w.leaving && why === "net::ERR_ABORTED") return;
    problems.push(`${label}: request failed: ${r.method()} ${r.url()}: ${why}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${label}: HTTP ${r.status()} for ${r.method()} ${r.url()}`);
  });
  page.on("websocket", (ws) => ws.on("socketerror", (e) => problems.push(`${label}: websocket error: ${e}`)));
  return w;
}

const stateOf = (label) =>
  pages[label].page.evaluate(() => {
    const s = window.demo ? window.demo.state : null;
    return s && { ...s, chat: s.chat.slice(-5) };
  }).catch((e) => `unavailable: ${e.message}`);

async function waitFor(label, what, predicate, arg) {
  try {
    await pages[label].page.waitForFunction(predicate, arg, { timeout: WAIT, polling: 50 });
  } catch (e) {
    throw new Error(`page ${label}: no ${what} within ${WAIT} ms; its state: ${JSON.stringify(await stateOf(label))}`);
  }
}

async function open(label, query) {
  const page = await context.newPage();
  pages[label] = { page, watch: watch(page, label) };
  await page.goto(url + query, { timeout: WAIT });
  await waitFor(label, "open session", () => window.demo.state.status === "open" && window.demo.state.n !== null);
  const s = await stateOf(label);
  if (s.runtime !== runtime) throw new Error(`page ${label} is served by ${s.runtime}, not ${runtime}`);
  return s;
}

const get = (label, expr) => pages[label].page.evaluate(expr);

async function chat(from, to, text) {
  const { page } = pages[from];
  await page.fill("#text", text);
  await page.press("#text", "Enter");
  await waitFor(to, `chat line ${JSON.stringify(text)} from ${from}`, (t) => window.demo.state.chat.some((c) => c.text === t), text);
}

// Draws a stroke on `from`'s board (moving the mouse: cursor and stroke messages, binary) and
// waits until `to` has received more strokes and cursor positions than before.
async function draw(from, to, shape) {
  const before = await get(to, () => [window.demo.state.strokesIn, window.demo.state.cursorsIn]);
  const { page } = pages[from];
  // Input goes to the tab in front (background tabs get their frames, and input, throttled).
  await page.bringToFront();
  const box = await page.locator("#board").boundingBox();
  const points = shape.map(([x, y]) => [box.x + x * box.width, box.y + y * box.height]);
  await page.mouse.move(...points[0]);
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...p, { steps: 4 });
  await page.mouse.up();
  await waitFor(to, `binary strokes and cursor positions from ${from}`,
    ([s, c]) => window.demo.state.strokesIn > s && window.demo.state.cursorsIn > c, before);
}

const wave = (y0, amp, phase) => Array.from({ length: 16 }, (_, i) => [0.08 + i * 0.055, y0 + amp * Math.sin(i / 2.2 + phase)]);

async function metrics() {
  const r = await fetch(new URL("/metrics", url), { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`GET /metrics: ${r.status}`);
  return r.json();
}

async function waitSessionsOpen(n, why, wait = WAIT) {
  const deadline = Date.now() + wait;
  let m;
  while (Date.now() < deadline) {
    m = await metrics();
    if (m.sessions_open === n) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${why}: the server has ${m.sessions_open} sessions open, not ${n}: ${JSON.stringify(m)}`);
}

async function reload(label) {
  const old = await stateOf(label);
  const others = Object.keys(pages).filter((l) => l !== label);
  pages[label].watch.leaving = true;
  await pages[label].page.reload({ timeout: WAIT });
  await waitFor(label, "open session after the reload", (sid) => window.demo.state.status === "open" && window.demo.state.sid !== sid && window.demo.state.n !== null, old.sid);
  pages[label].watch.leaving = false;
  // The old session has left the room (every other page saw it go) and the server's count
  // of open sessions is back where it was.
  for (const o of others) await waitFor(o, `leave of ${label}'s old session`, (n) => !(n in window.demo.state.peers), old.n);
  await waitSessionsOpen(Object.keys(pages).length, `after reloading ${label}`);
}

const shot = (label, name) => pages[label].page.screenshot({ path: path.join(outDir, `${name}.png`) });

const cases = {
  async "two pages: text and binary both ways, upgrade to websocket"() {
    await open("a", "");
    await open("b", "");
    for (const l of ["a", "b"]) {
      await waitFor(l, "upgrade to websocket", () => window.demo.state.transport === "websocket" && window.demo.state.upgrades.length === 1);
      const s = await stateOf(l);
      if (s.upgrades[0].from !== "polling") throw new Error(`page ${l} upgraded from ${s.upgrades[0].from}`);
    }
    await chat("a", "b", "hello from a, ünïcödé ✓");
    await chat("b", "a", "hi a, b here");
    await draw("a", "b", wave(0.3, 0.12, 0));
    await draw("b", "a", wave(0.6, 0.1, 1.5));
    for (const l of ["a", "b"]) {
      await waitFor(l, "round-trip time", () => typeof window.demo.state.rtt === "number");
      await waitFor(l, "server metrics with a message rate", () => window.demo.state.metrics && window.demo.state.metrics.sessions_open === 2 && window.demo.state.rate !== null);
      await waitFor(l, "two peers in the room", () => Object.keys(window.demo.state.peers).length === 2);
    }
    await shot("a", "two-pages");
  },
  async "polling only: text and binary both ways"() {
    await open("p", "?transports=polling");
    await chat("p", "a", "from a polling-only page");
    await chat("a", "p", "to the polling-only page");
    await draw("p", "a", wave(0.8, 0.06, 3));
    await draw("a", "p", wave(0.45, 0.05, 2));
    await waitFor("p", "metrics", () => window.demo.state.metrics && window.demo.state.metrics.on_polling === 1);
    const s = await stateOf("p");
    if (s.transport !== "polling" || s.upgrades.length !== 0) throw new Error(`the polling-only page left polling: ${JSON.stringify(s)}`);
    await shot("p", "polling-only");
  },
  async "websocket only: text and binary both ways"() {
    await open("w", "?transports=websocket");
    const s = await stateOf("w");
    if (s.transport !== "websocket" || s.upgrades.length !== 0) throw new Error(`the websocket-only page: ${JSON.stringify(s)}`);
    if (!s.extensions.startsWith("permessage-deflate")) throw new Error(`the browser's WebSocket did not agree to permessage-deflate: ${JSON.stringify(s.extensions)}`);
    await chat("w", "p", "from a websocket-only page");
    await chat("p", "w", "to the websocket-only page");
    // Over the 1 KiB threshold: compressed both ways between Chromium and the server.
    const long = (who) => `a long line from ${who}: ` + "compress me, ".repeat(250);
    await chat("w", "b", long("w"));
    await chat("b", "w", long("b"));
    if (!(await stateOf("b")).extensions.startsWith("permessage-deflate")) throw new Error("the upgraded page did not agree to permessage-deflate");
    await draw("w", "b", wave(0.15, 0.05, 4));
    await draw("b", "w", wave(0.9, 0.04, 5));
    await waitSessionsOpen(4, "four pages open");
  },
  async "permessage-deflate: the browser's own WebSocket, 1 B to 1 MiB, to our echo server"() {
    // Chromium offers permessage-deflate on every WebSocket; our echo server (with
    // `--deflate`) agrees. Engine.IO by hand: the open packet, then `4` + text (or raw binary)
    // and its echo, for each size.
    const result = await pages.w.page.evaluate(async (target) => {
      const ws = new WebSocket(`${target}?EIO=4&transport=websocket`);
      ws.binaryType = "arraybuffer";
      const inbox = [];
      let wake = null;
      ws.onmessage = (e) => { inbox.push(e.data); if (wake) wake(); };
      const next = () => new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no frame within 15 s")), 15000);
        const take = () => {
          // Pings ("2") are answered and skipped.
          while (inbox.length && inbox[0] === "2") { inbox.shift(); ws.send("3"); }
          if (inbox.length) { clearTimeout(t); wake = null; resolve(inbox.shift()); } else wake = take;
        };
        take();
      });
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("websocket error")); });
      const open = await next();
      if (typeof open !== "string" || !open.startsWith("0{")) throw new Error(`open packet: ${open}`);
      const checked = [];
      for (const n of [1, 1023, 1024, 5000, 65536, 1 << 20]) {
        const text = "engine.io ".repeat(Math.ceil(n / 10)).slice(0, n);
        ws.send("4" + text);
        const echo = await next();
        if (echo !== "4" + text) throw new Error(`text echo of ${n} bytes differs`);
        const bytes = new Uint8Array(n);
        for (let i = 0; i < n; i++) bytes[i] = (i * 7919) & 0xff;
        ws.send(bytes);
        const back = new Uint8Array(await next());
        if (back.length !== n || back.some((b, i) => b !== bytes[i])) throw new Error(`binary echo of ${n} bytes differs`);
        checked.push(n);
      }
      const extensions = ws.extensions;
      ws.close();
      return { extensions, checked };
    }, echoUrl);
    if (!result.extensions.startsWith("permessage-deflate")) throw new Error(`not agreed: ${JSON.stringify(result.extensions)}`);
    if (result.checked.length !== 6) throw new Error(`sizes: ${result.checked}`);
  },
  async "reloading a page closes its old session"() {
    await reload("a");
    await reload("p");
    await chat("a", "p", "back after a reload");
    await shot("b", "after-reloads");
  },
  async "closing every page closes every session"() {
    for (const { page, watch: w } of Object.values(pages)) {
      w.leaving = true;
      await page.close({ runBeforeUnload: true });
    }
    for (const l of Object.keys(pages)) delete pages[l];
    // A page's close packet goes out as it unloads, and Chromium may cancel that request
    // (and a poll not sent yet) with the page: the server then learns of it from the
    // heartbeat, within pingInterval + pingTimeout (25 + 20 s, the demo's defaults). Once in
    // a CI run on smol a polling-only page's session took longer than 15 s.
    await waitSessionsOpen(0, "after closing every page", 25000 + 20000 + 5000);
  },
};

const clusterCases = {
  async "pages on different nodes see each other, through the balancer and Redis"() {
    // Round-robin puts each page's handshake on some node: open pages until two nodes hold one.
    const byNode = {};
    for (let i = 0; i < 8 && Object.keys(byNode).length < 2; i++) {
      const label = `c${i}`;
      const s = await open(label, "");
      const node = s.sid.split("-")[0];
      if (!/^n[0-9]+$/.test(node)) throw new Error(`page ${label}'s sid names no node: ${s.sid}`);
      if (!byNode[node]) byNode[node] = label;
    }
    const [a, b] = Object.values(byNode);
    if (!b) throw new Error(`every page landed on one node: ${JSON.stringify(byNode)}`);
    for (const l of [a, b]) {
      await waitFor(l, "upgrade to websocket", () => window.demo.state.transport === "websocket");
    }
    await chat(a, b, `from ${a} to the other node`);
    await chat(b, a, `and back from ${b}, ünïcödé ✓`);
    await draw(a, b, wave(0.3, 0.12, 0));
    await draw(b, a, wave(0.6, 0.1, 1.5));
    await shot(a, "cluster");
  },
};

let context;
(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  if (!fs.existsSync(executablePath)) {
    await fail(`no browser at ${executablePath}: install Debian's chromium (apt-get install chromium) or set ENGINEIO_CHROMIUM`);
  }
  browser = await chromium.launch({
    executablePath,
    timeout: 30000,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  context = await browser.newContext({ viewport: { width: 1200, height: 560 } });
  context.setDefaultTimeout(WAIT);
  for (const [name, run] of Object.entries(mode === "cluster" ? clusterCases : cases)) {
    const start = Date.now();
    try {
      await run();
    } catch (e) {
      await fail(`${name}: ${e.message}${problems.length ? `\nalso:\n${problems.join("\n")}` : ""}`);
    }
    if (problems.length) await fail(`${name}:\n${problems.join("\n")}`);
    console.log(`ok ${name} (${Date.now() - start} ms)`);
  }
  await browser.close();
  console.log("done");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
