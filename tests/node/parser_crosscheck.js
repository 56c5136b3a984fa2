// Reference side of tests/tests/parser_crosscheck.rs: runs engine.io-parser 5.x (protocol 4)
// and 2.x (protocol 3) on requests from the Rust test.
//
// One long-running process. Each stdin line is a JSON array of operations, or an object
// {"seqs": [[packet, ...], ...], "ops": [operation, ...]} whose "check" operations refer to the
// packet sequences by index (so a batch sends each sequence once). Each answer is one stdout
// line with a JSON array of results, in the same order. Nothing else is written to stdout.
//
// Values (bodies, frames): {"str": "..."} for a JavaScript string, {"bin": "<base64>"} for a
// Buffer; requests may also send a string as {"utf8": "<base64 of its UTF-8>"}, which needs no
// JSON escaping. Packets: {"type": "message", "data": "..."} (or "utf8": "<base64>") for text
// data, {"type": "message", "bin": "<base64>"} for binary data, no data key when the data is
// undefined.
//
// Operations ({"op": NAME, ...}):
//   v5.encodePayload {packets}            v5.decodePayload {value}
//   v5.encodePacket {packet, supportsBinary}  v5.decodePacket {value}
//   v2.encodePayload {packets, supportsBinary}  v2.decodePayload {value}
//   v2.encodePayloadAsBinary {packets}    v2.decodePayloadAsBinary {value}
//   v2.encodePacket {packet, supportsBinary}  v2.decodePacket {value}
//   v2.encodeBase64Packet {packet}
// Strings with lone surrogates come back as {"ill_formed": "<JSON text>"} (values) or with an
// "ill_formed" key instead of "data" (packets).
// Results: {"value": V} for encoders, {"packets": [P]} / {"packet": P} for decoders,
// {"error": "..."} if the reference threw or never called back.
//   check {flavour, seq, at?, ours, decode}: see check() below. It compares in this process so
// that equal results (all of them, when all is well) need not travel back.
//
// The packages are found through NODE_PATH (set by engineio_tests::NodeProcess).

"use strict";

const p5 = require("parser5");
const p2 = require("parser2");

const BINARY_TYPE = "nodebuffer";

// Text sent as base64 of UTF-8 ("utf8" keys): decoded strictly, so bad UTF-8 is an error.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function fromUtf8(b64) {
  return UTF8.decode(Buffer.from(b64, "base64"));
}

function toPacket(j) {
  const p = { type: j.type };
  if (j.bin !== undefined) p.data = Buffer.from(j.bin, "base64");
  else if (j.utf8 !== undefined) p.data = fromUtf8(j.utf8);
  else if (j.data !== undefined) p.data = j.data;
  return p;
}

// A string with a lone surrogate has no UTF-8 form: it is sent as its JSON text instead, under
// a key the Rust side does not take as a value, so the check fails and shows it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function fromData(d) {
  if (typeof d === "string") {
    return LONE_SURROGATE.test(d) ? { ill_formed: JSON.stringify(d) } : { str: d };
  }
  if (Buffer.isBuffer(d)) return { bin: d.toString("base64") };
  if (d instanceof ArrayBuffer) return { bin: Buffer.from(d).toString("base64") };
  if (ArrayBuffer.isView(d)) {
    return { bin: Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("base64") };
  }
  throw new Error("unexpected value of type " + typeof d);
}

function fromValue(v) {
  if (v.str !== undefined) return v.str;
  if (v.utf8 !== undefined) return fromUtf8(v.utf8);
  return Buffer.from(v.bin, "base64");
}

function fromPacket(p) {
  const j = { type: p.type };
  if (p.data === undefined) return j;
  const v = fromData(p.data);
  if (v.str !== undefined) j.data = v.str;
  else if (v.bin !== undefined) j.bin = v.bin;
  else j.ill_formed = v.ill_formed;
  return j;
}

// Runs a callback-style encoder that must call back synchronously, exactly once.
function sync(fn) {
  let out;
  let calls = 0;
  fn((v) => {
    calls++;
    out = v;
  });
  if (calls !== 1) throw new Error("callback called " + calls + " times");
  return out;
}

const OPS = {
  "v5.encodePayload": (r) => ({
    value: fromData(sync((cb) => p5.encodePayload(r.packets.map(toPacket), cb))),
  }),
  "v5.decodePayload": (r) => ({
    packets: p5.decodePayload(fromValue(r.value), BINARY_TYPE).map(fromPacket),
  }),
  "v5.encodePacket": (r) => ({
    value: fromData(sync((cb) => p5.encodePacket(toPacket(r.packet), r.supportsBinary, cb))),
  }),
  "v5.decodePacket": (r) => ({
    packet: fromPacket(p5.decodePacket(fromValue(r.value), BINARY_TYPE)),
  }),
  "v2.encodePayload": (r) => ({
    value: fromData(
      sync((cb) => p2.encodePayload(r.packets.map(toPacket), r.supportsBinary, cb)),
    ),
  }),
  "v2.decodePayload": (r) => {
    const packets = [];
    p2.decodePayload(fromValue(r.value), BINARY_TYPE, (p) => {
      packets.push(fromPacket(p));
    });
    return { packets };
  },
  "v2.encodePayloadAsBinary": (r) => ({
    value: fromData(sync((cb) => p2.encodePayloadAsBinary(r.packets.map(toPacket), cb))),
  }),
  "v2.decodePayloadAsBinary": (r) => {
    const packets = [];
    p2.decodePayloadAsBinary(fromValue(r.value), BINARY_TYPE, (p) => {
      packets.push(fromPacket(p));
    });
    return { packets };
  },
  "v2.encodePacket": (r) => ({
    value: fromData(sync((cb) => p2.encodePacket(toPacket(r.packet), r.supportsBinary, cb))),
  }),
  "v2.decodePacket": (r) => ({
    packet: fromPacket(p2.decodePacket(fromValue(r.value), BINARY_TYPE)),
  }),
  "v2.encodeBase64Packet": (r) => ({
    value: fromData(sync((cb) => p2.encodeBase64Packet(toPacket(r.packet), cb))),
  }),
};

// The flavours of the "check" operation: how the reference encodes a packet sequence (or one
// packet) and decodes a body or frame.
const FLAVOURS = {
  "v4.payload": {
    encode: (ps) => sync((cb) => p5.encodePayload(ps, cb)),
    decode: (v) => p5.decodePayload(v, BINARY_TYPE),
  },
  "v4.frame": {
    encode: (p) => sync((cb) => p5.encodePacket(p, true, cb)),
    decode: (v) => p5.decodePacket(v, BINARY_TYPE),
  },
  "v4.packetText": {
    encode: (p) => sync((cb) => p5.encodePacket(p, false, cb)),
    decode: (v) => p5.decodePacket(v, BINARY_TYPE),
  },
  "v3.text": {
    encode: (ps) => sync((cb) => p2.encodePayload(ps, false, cb)),
    decode: (v) => decodeV2(p2.decodePayload, v),
  },
  "v3.binary": {
    encode: (ps) => sync((cb) => p2.encodePayloadAsBinary(ps, cb)),
    decode: (v) => decodeV2(p2.decodePayloadAsBinary, v),
  },
  "v3.auto": {
    encode: (ps) => sync((cb) => p2.encodePayload(ps, true, cb)),
    decode: (v) => decodeV2(p2.decodePayload, v),
  },
  "v3.frame": {
    encode: (p) => sync((cb) => p2.encodePacket(p, true, cb)),
    decode: (v) => p2.decodePacket(v, BINARY_TYPE),
  },
  "v3.packetText": {
    encode: (p) => sync((cb) => p2.encodePacket(p, false, cb)),
    decode: (v) => p2.decodePacket(v, BINARY_TYPE),
  },
  "v3.base64": {
    encode: (p) => sync((cb) => p2.encodeBase64Packet(p, cb)),
    decode: (v) => p2.decodePacket(v, BINARY_TYPE),
  },
};

function decodeV2(fn, v) {
  const packets = [];
  fn(v, BINARY_TYPE, (p) => {
    packets.push(p);
  });
  return packets;
}

function sameValue(a, b) {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
}

// Packet equality, with undefined data the same as empty text (v2 leaves the data of a packet
// without data undefined).
function samePacket(a, b) {
  if (a.type !== b.type) return false;
  const da = a.data === undefined ? "" : a.data;
  const db = b.data === undefined ? "" : b.data;
  return sameValue(da, db);
}

// {"op": "check", "flavour": F, "seq": k, ["at": j], "ours": V, "decode": bool}: packets are
// seqs[k] of the request line (already turned into packets: the encoders do not change them) (or its packet j, for the per-packet flavours); V is our
// encoding of them.
// - "encode": "same" if the reference encodes them exactly as V (same kind, same bytes), else
//   {"value": <the reference's encoding>} (or {"error"}).
// - "decode" (when asked): "same" if the reference decodes V into exactly these packets, else
//   {"packets": [...]} (or {"error"}).
function check(r, seqs) {
  const f = FLAVOURS[r.flavour];
  if (!f) return { error: "unknown flavour " + JSON.stringify(r.flavour) };
  const seq = seqs[r.seq];
  const single = r.at !== undefined;
  const input = single ? seq[r.at] : seq;
  const expected = single ? [seq[r.at]] : seq;
  const ours = fromValue(r.ours);
  const out = {};
  try {
    const theirs = f.encode(input);
    out.encode = sameValue(theirs, ours) ? "same" : { value: fromData(theirs) };
  } catch (e) {
    out.encode = { error: String((e && e.stack) || e) };
  }
  if (r.decode) {
    try {
      let got = f.decode(ours);
      if (single) got = [got];
      const same = got.length === expected.length && got.every((p, i) => samePacket(p, expected[i]));
      out.decode = same ? "same" : { packets: got.map(fromPacket) };
    } catch (e) {
      out.decode = { error: String((e && e.stack) || e) };
    }
  }
  return out;
}

function run(req, seqs) {
  if (req.op === "check") return check(req, seqs);
  const op = OPS[req.op];
  if (!op) return { error: "unknown op " + JSON.stringify(req.op) };
  try {
    return op(req);
  } catch (e) {
    return { error: String((e && e.stack) || e) };
  }
}

// Lines are split on the newline byte before UTF-8 decoding, so no other character (CR,
// U+2028) can end a line early.
let pending = [];
process.stdin.on("data", (chunk) => {
  let start = 0;
  let nl;
  while ((nl = chunk.indexOf(10, start)) !== -1) {
    pending.push(chunk.subarray(start, nl));
    const line = Buffer.concat(pending).toString("utf8");
    pending = [];
    start = nl + 1;
    if (line.trim() === "") continue;
    let out;
    try {
      const req = JSON.parse(line);
      const ops = Array.isArray(req) ? req : req.ops;
      const seqs = Array.isArray(req) ? [] : req.seqs.map((seq) => seq.map(toPacket));
      out = ops.map((op) => run(op, seqs));
    } catch (e) {
      out = { fatal: String((e && e.stack) || e) };
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  }
  if (start < chunk.length) pending.push(chunk.subarray(start));
});
process.stdin.on("end", () => process.exit(0));
