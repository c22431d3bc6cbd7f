import assert from "node:assert/strict";
import { bytesSource, encodeGguf, type GgufArray, type GgufKv, GgufValueType, parseGgufHeader } from "./mod.ts";
import { assertPreflight, InvalidModelError, type PreflightCode, preflightGguf } from "./preflight.ts";
import { normalizeSpec, synthesizeModel, type SynthSpec } from "../synth/mod.ts";

type Meta = [string, GgufKv][];

function header(edit: (m: Meta) => Meta = (m) => m, spec: Partial<SynthSpec> = { layers: 2 }) {
  const base = synthesizeModel(normalizeSpec(spec)).gguf;
  const metadata = edit([...base.metadata].map(([k, v]) => [k, v] as [string, GgufKv]));
  return parseGgufHeader(bytesSource(encodeGguf({ metadata, tensors: base.tensors })));
}

const set = (key: string, kv: GgufKv) => (m: Meta): Meta => {
  const i = m.findIndex(([k]) => k === key);
  if (i >= 0) m[i] = [key, kv];
  else m.push([key, kv]);
  return m;
};
const u32 = (value: number): GgufKv => ({ type: GgufValueType.UINT32, value });
const f32 = (value: number): GgufKv => ({ type: GgufValueType.FLOAT32, value });
const EPS = "bitnet.attention.layer_norm_rms_epsilon";

function tokensEdit(f: (items: string[]) => void) {
  return (m: Meta): Meta => {
    const i = m.findIndex(([k]) => k === "tokenizer.ggml.tokens");
    const a = m[i][1].value as GgufArray;
    const items = [...(a.items as string[])];
    f(items);
    m[i] = [m[i][0], { type: GgufValueType.ARRAY, value: { itemType: a.itemType, items } }];
    return m;
  };
}

Deno.test("preflightGguf() finds nothing wrong with generated models of every architecture and weight type", () => {
  for (const spec of [{}, { arch: "bitnet-b1.58" as const }, { type: "tq1_0" as const }, { type: "i2_s" as const }]) {
    assert.deepEqual(preflightGguf(header(undefined, { layers: 2, ...spec })), [], JSON.stringify(spec));
  }
});

Deno.test("preflightGguf() names the key and the value of each kind of bad metadata", () => {
  const cases: [string, (m: Meta) => Meta, string, PreflightCode, RegExp][] = [
    ["NaN epsilon", set(EPS, f32(NaN)), EPS, "not_finite", /= NaN: must be a finite number/],
    ["infinite epsilon", set(EPS, f32(Infinity)), EPS, "not_finite", /= Infinity/],
    ["negative epsilon", set(EPS, f32(-1e-5)), EPS, "negative", /must not be negative/],
    ["zero epsilon", set(EPS, f32(0)), EPS, "zero", /= 0: must be greater than 0/],
    [
      "epsilon as a string",
      set(EPS, { type: GgufValueType.STRING, value: "1e-5" }),
      EPS,
      "wrong_type",
      /must be a float/,
    ],
    ["zero blocks", set("bitnet.block_count", u32(0)), "bitnet.block_count", "zero", /= 0/],
    ["too many blocks", set("bitnet.block_count", u32(4096)), "bitnet.block_count", "out_of_range", /512/],
    ["blocks without tensors", set("bitnet.block_count", u32(3)), "bitnet.block_count", "inconsistent", /2 block/],
    [
      "2^32-1 context",
      set("bitnet.context_length", u32(2 ** 32 - 1)),
      "bitnet.context_length",
      "out_of_range",
      /exceeds/,
    ],
    [
      "negative heads",
      set("bitnet.attention.head_count", { type: GgufValueType.INT32, value: -1 }),
      "bitnet.attention.head_count",
      "negative",
      /= -1/,
    ],
    [
      "heads not dividing",
      set("bitnet.attention.head_count", u32(3)),
      "bitnet.attention.head_count",
      "inconsistent",
      /does not divide/,
    ],
    [
      "KV heads not dividing",
      set("bitnet.attention.head_count_kv", u32(3)),
      "bitnet.attention.head_count_kv",
      "inconsistent",
      /does not divide/,
    ],
    [
      "hidden size against the embedding",
      set("bitnet.embedding_length", u32(512)),
      "token_embd.weight",
      "inconsistent",
      /dimension 0 should be 512/,
    ],
    [
      "vocab_size against the tokens",
      set("bitnet.vocab_size", u32(999)),
      "bitnet.vocab_size",
      "inconsistent",
      /1024 tokens/,
    ],
    [
      "no architecture",
      (m) => m.filter(([k]) => k !== "general.architecture"),
      "general.architecture",
      "missing",
      /absent/,
    ],
    [
      "unknown tokenizer",
      set("tokenizer.ggml.model", { type: GgufValueType.STRING, value: "sentencepiece2" }),
      "tokenizer.ggml.model",
      "invalid_vocab",
      /not a tokenizer/,
    ],
    [
      "duplicate token texts",
      tokensEdit((t) => (t[300] = t[301])),
      "tokenizer.ggml.tokens",
      "duplicate_token",
      /\[300\] = \[301\]/,
    ],
    ["empty vocabulary", tokensEdit((t) => t.splice(0)), "tokenizer.ggml.tokens", "invalid_vocab", /empty/],
    [
      "BOS outside the vocabulary",
      set("tokenizer.ggml.bos_token_id", u32(5000)),
      "tokenizer.ggml.bos_token_id",
      "out_of_range",
      /0\.\.1023/,
    ],
  ];
  for (const [what, edit, key, code, message] of cases) {
    const problems = preflightGguf(header(edit));
    const p = problems.find((x) => x.key === key && x.code === code);
    assert.ok(p, `${what}: expected ${code} on ${key}, got ${JSON.stringify(problems)}`);
    assert.ok(p.message.startsWith(`"${key}" = `), `${what}: ${p.message}`);
    assert.match(p.message, message, what);
  }
});

Deno.test("preflightGguf() refuses tensor data that is not 32-byte aligned, naming general.alignment", () => {
  const edit = (m: Meta) =>
    set("general.alignment", u32(1))(set("general.name", { type: GgufValueType.STRING, value: "odd-length-name" })(m));
  const p = preflightGguf(header(edit)).find((x) => x.code === "misaligned");
  assert.ok(p);
  assert.equal(p.key, "general.alignment");
  assert.equal(p.value, "1");
  assert.match(p.message, /not a multiple of 32/);
  // Alignment 1 whose offsets happen to land on 32-byte boundaries is fine: it is the data that must be aligned.
  assert.deepEqual(preflightGguf(header(set("general.alignment", u32(64)))), []);
});

Deno.test("assertPreflight() throws InvalidModelError whose message names the file, the first problem, the count and the fix", () => {
  const h = header((m) => set(EPS, f32(NaN))(set("bitnet.block_count", u32(0))(m)));
  assert.throws(
    () => assertPreflight(h, "bad.gguf"),
    (e: unknown) =>
      e instanceof InvalidModelError && e.problems.length === 2 &&
      /^Cannot use model "bad\.gguf": its metadata is invalid: "bitnet\.block_count" = 0: .*\(and 1 more problem\(s\)\).*crossval inspect bad\.gguf/
        .test(e.message),
  );
  assertPreflight(header(), "good.gguf");
});

Deno.test("preflightGguf() marks counts and sizes that no loader can allocate by, and only those", () => {
  const flagged = (edit: (m: Meta) => Meta) => preflightGguf(header(edit)).map((p) => [p.key, p.unusableSize]);
  assert.deepEqual(flagged(set("bitnet.block_count", f32(Infinity))), [["bitnet.block_count", true]]);
  assert.deepEqual(flagged(set("bitnet.block_count", u32(2 ** 31))), [["bitnet.block_count", true]]);
  assert.deepEqual(flagged(set("bitnet.block_count", u32(0))), [["bitnet.block_count", false]]);
  assert.deepEqual(flagged(set(EPS, f32(NaN))), [[EPS, false]]);
});
