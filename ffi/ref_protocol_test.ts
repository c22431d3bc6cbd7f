import assert from "node:assert/strict";
import {
  decodeHeader,
  encodeHeader,
  escapeValue,
  FieldError,
  Fields,
  frameParts,
  FrameReader,
  MAX_HEADER_BYTES,
  payloads,
  ProtocolError,
  unescapeValue,
} from "./ref_protocol.ts";

/** A stream that delivers `bytes` in chunks of the given sizes (cycled), as a pipe may. */
function chunked(bytes: Uint8Array, sizes: readonly number[]): ReadableStream<Uint8Array> {
  let o = 0, k = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= bytes.length) return c.close();
      const n = sizes[k++ % sizes.length];
      c.enqueue(bytes.slice(o, o + n));
      o += n;
    },
  });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}

Deno.test("escapeValue()/unescapeValue() round-trip the four reserved bytes and leave the rest alone", () => {
  const v = "a=b %41 line\nnext\r\0 ünï path/with spaces";
  const e = escapeValue(v);
  assert.ok(!/[\n\r\0]/.test(e));
  assert.equal(e.includes("%25"), true);
  assert.equal(unescapeValue(e), v);
  assert.throws(() => unescapeValue("50%"), ProtocolError);
  assert.throws(() => unescapeValue("%zz"), ProtocolError);
});

Deno.test("encodeHeader() writes key=value lines that decodeHeader() reads back, with typed values as text", () => {
  const h = encodeHeader({
    op: "eval",
    seq: 7,
    parity: true,
    off: false,
    eps: NaN,
    inf: -Infinity,
    shape: [2048, 5],
    skip: undefined,
  });
  assert.equal(new TextDecoder().decode(h), "op=eval\nseq=7\nparity=1\noff=0\neps=nan\ninf=-inf\nshape=2048,5\n");
  assert.deepEqual(decodeHeader(h), {
    op: "eval",
    seq: "7",
    parity: "1",
    off: "0",
    eps: "nan",
    inf: "-inf",
    shape: "2048,5",
  });
  assert.deepEqual(decodeHeader(new Uint8Array(0)), {});
  assert.throws(() => encodeHeader({ "Bad Key": 1 }), TypeError);
});

Deno.test("decodeHeader() rejects a missing final LF, a line without =, a bad key and a repeated key", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  for (const bad of ["op=x", "op=x\nnoequals\n", "Op=x\n", "op=x\nop=y\n"]) {
    assert.throws(() => decodeHeader(enc(bad)), ProtocolError, JSON.stringify(bad));
  }
});

Deno.test("FrameReader reassembles frames split at every byte boundary, and ends cleanly between frames", async () => {
  const payload = payloads.f32(Float32Array.from({ length: 1000 }, (_, i) => i / 7));
  const frames = [
    ...frameParts(encodeHeader({ seq: 1, status: "ok" }), payload),
    ...frameParts(encodeHeader({ seq: 2, status: "ok", message: "two\nlines" })),
  ];
  const bytes = concat(frames);
  for (const sizes of [[1], [3, 5], [4096], [bytes.length]]) {
    const r = new FrameReader(chunked(bytes, sizes));
    const a = await r.next(), b = await r.next();
    assert.equal(a?.header.seq, "1");
    assert.deepEqual(payloads.readF32(a!.payload, 0, 1000), Float32Array.from({ length: 1000 }, (_, i) => i / 7));
    assert.equal(b?.header.message, "two\nlines");
    assert.equal(b?.payload.length, 0);
    assert.equal(await r.next(), null);
  }
});

Deno.test("FrameReader names stray output, oversized headers and truncated frames", async () => {
  const text = new TextEncoder().encode("llama_model_load: printed to stdout\n");
  await assert.rejects(() => new FrameReader(chunked(text, [7])).next(), /Expected a frame.*llama_model_load/);
  const big = new Uint8Array(12);
  big.set(new TextEncoder().encode("RFP1"));
  new DataView(big.buffer).setUint32(4, MAX_HEADER_BYTES + 1, true);
  await assert.rejects(() => new FrameReader(chunked(big, [12])).next(), /exceeds/);
  const whole = concat(frameParts(encodeHeader({ seq: 1 }), new Uint8Array(100)));
  await assert.rejects(() => new FrameReader(chunked(whole.slice(0, whole.length - 1), [64])).next(), /ended inside/);
  await assert.rejects(() => new FrameReader(chunked(whole.slice(0, 5), [5])).next(), /not a frame/);
});

Deno.test("payloads: ids, f32 and length-prefixed items round-trip; wrong lengths are protocol errors", () => {
  const ids = Int32Array.of(1, -2, 2147483647);
  assert.deepEqual(payloads.readIds(payloads.ids(ids)), ids);
  assert.deepEqual(payloads.readIds(payloads.ids([5, 6]).slice()), Int32Array.of(5, 6));
  assert.throws(() => payloads.readIds(new Uint8Array(7)), ProtocolError);
  const items = [new Uint8Array([1, 2]), new Uint8Array(0), new TextEncoder().encode("é")];
  assert.deepEqual(payloads.readItems(payloads.items(items)), items);
  assert.throws(() => payloads.readItems(new Uint8Array([9, 0, 0, 0, 1])), ProtocolError);
  // Unaligned offsets are copied, not misread.
  const buf = new Uint8Array(13);
  new DataView(buf.buffer).setFloat32(1, 1.5, true);
  assert.deepEqual(payloads.readF32(buf.subarray(1), 0, 1), Float32Array.of(1.5));
  assert.throws(() => payloads.readF32(buf, 8, 2), ProtocolError);
});

Deno.test("Fields reads typed values and names the field that is missing or malformed", () => {
  const f = new Fields({ n: "3", x: "nan", b: "1", e: "last", s: "2048,5", bad: "3.5" }, `request "eval"`);
  assert.equal(f.int("n"), 3);
  assert.ok(Number.isNaN(f.float("x")));
  assert.equal(f.bool("b"), true);
  assert.equal(f.bool("absent", false), false);
  assert.equal(f.oneOf("e", ["all", "last"] as const), "last");
  assert.deepEqual(f.ints("s"), [2048, 5]);
  assert.throws(() => f.int("bad"), (e: unknown) => e instanceof FieldError && e.field === "bad");
  assert.throws(() => f.int("missing"), /field "missing" is missing/);
  assert.throws(() => f.oneOf("e", ["all"] as const), /must be one of all/);
  assert.throws(() => f.bool("n"), /must be 0 or 1/);
});
