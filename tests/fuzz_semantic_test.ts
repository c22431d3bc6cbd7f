/**
 * Semantic fuzz (issue 16): every metadata value of a valid tiny model is mutated to boundary values (0, -1, NaN,
 * Inf, 2^31, 2^32-1, 2^63, a wrong type; numeric arrays also in their first element; `general.alignment` added
 * with each), the file is rewritten with the GGUF writer, and handed to `inspect`, `run`, `tokenize` and `parity`
 * through their library entry points, and to `parity` once more with pre-flight bypassed, so the reference process
 * itself meets the value. Every outcome must be a result, a clean error or a receipt: no crash of this process, no
 * call over 20 s, no resident set over 2 GB (the reference process runs under a 2 GiB limit).
 *
 * CI runs a deterministic sample; `CROSSVAL_FUZZ_SEMANTIC=full` runs every case (docs/CROSSVAL.md). A few cases also
 * go through the CLI. Needs the llama.cpp library.
 */
import assert from "node:assert/strict";
import { type GgufArray, type GgufKv, GgufValueType, type GgufValueTypeId } from "../engine/gguf/mod.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import { Tokenizer } from "../engine/tokenizer/mod.ts";
import { Engine } from "../engine/engine.ts";
import { runParityOnModel } from "../parity/mod.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import { inspectModel } from "../cli/inspect.ts";
import { preflightFile, preflightModelFile } from "../cli/preflight.ts";
import { crossval } from "../cli/_testing.ts";
import {
  baseMetadata,
  hostileModelBytes,
  type Metadata,
  type MetadataEdit,
  rawKeyModelBytes,
  writeHostileModel,
} from "./_hostile_models.ts";
import { withTempDir } from "./_fixtures.ts";

const FULL = Deno.env.get("CROSSVAL_FUZZ_SEMANTIC") === "full";
/** Cases in the CI sample. */
const SAMPLE = 16;
const HANG_MS = 20_000;
const RSS_LIMIT = 2 * 2 ** 30;
const PROMPTS = [{ text: "Once upon a time", parseSpecial: false }];

/** One boundary value, typed for the key it replaces. */
type Boundary = "0" | "-1" | "NaN" | "Inf" | "2^31" | "2^32-1" | "2^63" | "wrong type";
const BOUNDARIES: readonly Boundary[] = ["0", "-1", "NaN", "Inf", "2^31", "2^32-1", "2^63", "wrong type"];
const INT_TYPES: readonly number[] = [0, 1, 2, 3, 4, 5, 10, 11];
const SIGNED: readonly number[] = [GgufValueType.INT8, GgufValueType.INT16, GgufValueType.INT32, GgufValueType.INT64];
const FLOATS: readonly number[] = [GgufValueType.FLOAT32, GgufValueType.FLOAT64];

/** The boundary value as a GGUF value, keeping the original's type where it can hold it. */
function boundaryKv(b: Boundary, orig: GgufKv | undefined): GgufKv {
  const t = orig?.type ?? GgufValueType.UINT32;
  const float = FLOATS.includes(t);
  switch (b) {
    case "0":
      return INT_TYPES.includes(t) || float ? { type: t, value: t >= 10 && t <= 11 ? 0n : 0 } : u32(0);
    case "-1":
      return float
        ? { type: t, value: -1 }
        : SIGNED.includes(t)
        ? { type: t, value: t === GgufValueType.INT64 ? -1n : -1 }
        : { type: GgufValueType.INT32, value: -1 };
    case "NaN":
      return { type: float ? t : GgufValueType.FLOAT32, value: NaN };
    case "Inf":
      return { type: float ? t : GgufValueType.FLOAT32, value: Infinity };
    case "2^31":
      return float ? { type: t, value: 2 ** 31 } : u32(2 ** 31);
    case "2^32-1":
      return float ? { type: t, value: 2 ** 32 - 1 } : u32(2 ** 32 - 1);
    case "2^63":
      return float ? { type: GgufValueType.FLOAT64, value: 2 ** 63 } : { type: GgufValueType.UINT64, value: 2n ** 63n };
    case "wrong type":
      return t === GgufValueType.STRING ? u32(7) : { type: GgufValueType.STRING, value: "x" };
  }
}

function u32(value: number): GgufKv {
  return { type: GgufValueType.UINT32, value };
}

/** The first element of a numeric array set to the boundary value (`wrong type` has no element form). */
function elementKv(b: Exclude<Boundary, "wrong type">, orig: GgufKv): GgufKv {
  const a = orig.value as GgufArray;
  const v =
    { "0": 0, "-1": -1, "NaN": NaN, "Inf": Infinity, "2^31": 2 ** 31, "2^32-1": 2 ** 32 - 1, "2^63": 2 ** 63 }[b];
  // The element keeps the array's item type, so values it cannot hold wrap or round as the file format would.
  const items = FLOATS.includes(a.itemType)
    ? Float64Array.from(a.items as Float32Array)
    : Array.from(a.items as Int32Array);
  items[0] = v;
  const typed = a.itemType === GgufValueType.FLOAT32
    ? Float32Array.from(items)
    : a.itemType === GgufValueType.INT32
    ? Int32Array.from(items, (x) => (Number.isFinite(x) ? x : 0))
    : Uint32Array.from(items, (x) => (Number.isFinite(x) ? x : 0));
  return { type: GgufValueType.ARRAY, value: { itemType: a.itemType as GgufValueTypeId, items: typed } };
}

export interface Case {
  readonly name: string;
  /** The file. */
  readonly bytes: () => Uint8Array;
}

export function allCases(): Case[] {
  const out: Case[] = [];
  const meta = baseMetadata();
  const keys = [...meta.map(([k]) => k), "general.alignment"];
  for (const key of keys) {
    const orig = meta.find(([k]) => k === key)?.[1];
    for (const b of BOUNDARIES) {
      const kv = orig?.type === GgufValueType.ARRAY && b !== "wrong type"
        ? boundaryKv(b, undefined) // a scalar where an array belongs
        : boundaryKv(b, orig);
      // The writer lays the file out by general.alignment; that one is written behind its back.
      const bytes = key === "general.alignment"
        ? () => rawKeyModelBytes(key, kv)
        : () => hostileModelBytes(replace(key, kv));
      out.push({ name: `${key} = ${b}`, bytes });
    }
    if (orig?.type === GgufValueType.ARRAY && INT_TYPES.concat(FLOATS).includes((orig.value as GgufArray).itemType)) {
      for (const b of BOUNDARIES) {
        if (b !== "wrong type") {
          out.push({ name: `${key}[0] = ${b}`, bytes: () => hostileModelBytes(replace(key, elementKv(b, orig))) });
        }
      }
    }
  }
  return out;
}

function replace(key: string, kv: GgufKv): MetadataEdit {
  return (m: Metadata) => {
    const i = m.findIndex(([k]) => k === key);
    if (i >= 0) m[i] = [key, kv];
    else m.push([key, kv]);
    return m;
  };
}

/** A deterministic spread over the cases: every key's neighbourhood gets visited across the sample. */
function sample<T>(all: readonly T[], n: number): T[] {
  if (n >= all.length) return [...all];
  const step = all.length / n;
  return Array.from({ length: n }, (_, i) => all[Math.floor(i * step + (i * 7) % step)]);
}

/** Messages of JavaScript's own failures: an error with one of these is this tool crashing, not a clean refusal. */
const INTERNAL =
  /is not a function|Cannot read propert|undefined is not|is not iterable|Maximum call stack|Invalid array length|Invalid typed array length|Array buffer allocation failed|out of memory/i;
const CLEAN_NAMES = new Set([
  "InvalidModelError",
  "RangeError",
  "SyntaxError",
  "TypeError",
  "Error",
  "NotFound",
  "UsageError",
]);

type Outcome =
  | { readonly kind: "ok" }
  | { readonly kind: "clean_error"; readonly name: string }
  | { readonly kind: "receipt"; readonly status: string; readonly crash: string | null }
  | { readonly kind: "crash"; readonly detail: string }
  | { readonly kind: "hang"; readonly ms: number };

async function outcome(fn: () => Promise<Outcome>): Promise<Outcome> {
  const t0 = performance.now();
  let o: Outcome;
  try {
    o = await fn();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const clean = CLEAN_NAMES.has(err.name) && err.message.length > 0 && !INTERNAL.test(err.message);
    o = clean
      ? { kind: "clean_error", name: err.name }
      : { kind: "crash", detail: `${err.name}: ${err.stack ?? err.message}` };
  }
  const ms = performance.now() - t0;
  return ms > HANG_MS ? { kind: "hang", ms } : o;
}

async function receiptOutcome(path: string, skipPreflight: boolean): Promise<Outcome> {
  const r = await runParityOnModel(path, {
    prompts: PROMPTS,
    steps: 2,
    nCtx: 64,
    referenceTimeoutMs: HANG_MS,
    referenceProcess: { memoryLimitBytes: RSS_LIMIT, timeouts: { hello: HANG_MS, load: HANG_MS } },
    ...(skipPreflight ? { skipPreflight } : {}),
  });
  const schema = verifyReceipt(JSON.parse(JSON.stringify(r))).filter((p) => p.code === "schema");
  if (schema.length) return { kind: "crash", detail: `receipt fails its schema: ${JSON.stringify(schema)}` };
  const crash = r.reference.error?.crash;
  return { kind: "receipt", status: r.status, crash: crash ? `${crash.kind}: ${crash.message}` : null };
}

/** The four entry points (plus parity without pre-flight), as the commands call them. */
const ENTRIES: Record<string, (path: string) => Promise<Outcome>> = {
  inspect: async (path) => {
    await inspectModel(path, { hash: false });
    return { kind: "ok" };
  },
  run: async (path) => {
    preflightModelFile(path);
    using engine = await Engine.load(path, { threads: 1, nCtx: 64 });
    await engine.generate("Hello", { maxTokens: 2 });
    return { kind: "ok" };
  },
  tokenize: (path) => {
    using file = GgufFile.open(path);
    preflightFile(file);
    Tokenizer.fromGguf(file).encode("Hello world");
    return Promise.resolve({ kind: "ok" });
  },
  parity: (path) => receiptOutcome(path, false),
  "parity (pre-flight bypassed)": (path) => receiptOutcome(path, true),
};

function rssNow(): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1] ?? 0) * 1024;
}

function peakRss(): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1] ?? 0) * 1024;
}

/**
 * Start measuring this test's peak: the process's high-water mark also holds what the test files before it in the
 * same `deno test` process used, so it is reset (`5` into `/proc/self/clear_refs`, Linux >= 4.0). Returns false when
 * the kernel refuses: the peak is then the largest resident set sampled after each call.
 */
function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

const CASES = allCases();
const CHOSEN = FULL ? CASES : sample(CASES, SAMPLE);

Deno.test(
  `semantic fuzz: ${CHOSEN.length} of ${CASES.length} metadata mutations, each through inspect, run, tokenize and parity ` +
    `(${FULL ? "full pass" : "CI sample; CROSSVAL_FUZZ_SEMANTIC=full for all"})`,
  async () => {
    await withTempDir("fuzz-semantic-", async (dir) => {
      const tally = { calls: 0, ok: 0, clean_error: 0, receipt: 0, crash: 0, hang: 0 };
      const statuses = new Map<string, number>();
      const crashesInReference = new Map<string, number>();
      const bad: string[] = [];
      const t0 = performance.now();
      const hwmReset = resetPeakRss();
      let sampled = rssNow();
      for (const [i, c] of CHOSEN.entries()) {
        const path = `${dir}/case${i}.gguf`;
        await Deno.writeFile(path, c.bytes());
        for (const [entry, fn] of Object.entries(ENTRIES)) {
          const o = await outcome(() => fn(path));
          tally.calls++;
          tally[o.kind]++;
          if (o.kind === "receipt") {
            statuses.set(`${entry}: ${o.status}`, (statuses.get(`${entry}: ${o.status}`) ?? 0) + 1);
            if (o.crash) crashesInReference.set(o.crash, (crashesInReference.get(o.crash) ?? 0) + 1);
          }
          if (o.kind === "crash" || o.kind === "hang") bad.push(`${c.name} / ${entry}: ${JSON.stringify(o)}`);
          sampled = Math.max(sampled, rssNow());
          // Stop at the first case that grows this process past the limit, before it takes the machine with it.
          if (rssNow() > RSS_LIMIT) bad.push(`${c.name} / ${entry}: resident set ${rssNow()} bytes`);
        }
        if (rssNow() > RSS_LIMIT) break;
        await Deno.remove(path);
      }
      const rss = hwmReset ? peakRss() : sampled;
      console.log(
        `semantic fuzz: ${CHOSEN.length} cases, ${tally.calls} calls in ${
          ((performance.now() - t0) / 1000).toFixed(0)
        } s: ` +
          `${tally.ok} ok, ${tally.clean_error} clean errors, ${tally.receipt} receipts, ${tally.crash} crashes, ` +
          `${tally.hang} hangs; peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB\n  receipts: ${
            JSON.stringify(Object.fromEntries(statuses))
          }\n  reference process endings: ${JSON.stringify(Object.fromEntries(crashesInReference))}`,
      );
      assert.deepEqual(bad, [], "every outcome must be a result, a clean error or a receipt, within 20 s");
      assert.ok(rss < RSS_LIMIT, `peak RSS ${rss} bytes`);
      assert.equal(tally.calls, CHOSEN.length * Object.keys(ENTRIES).length);
      // The sample is not vacuous: pre-flight refuses some files and some reach the reference.
      assert.ok(tally.clean_error > 0 && tally.receipt > 0, JSON.stringify(tally));
    });
  },
);

Deno.test("semantic fuzz through the CLI: refused files exit 2 naming the key, harmless ones run, bypassed ones still get a receipt", async () => {
  await withTempDir("fuzz-semantic-cli-", async (dir) => {
    const meta = baseMetadata();
    const eps = meta.find(([k]) => k === "bitnet.attention.layer_norm_rms_epsilon")![1];
    const path = await writeHostileModel(
      dir,
      "eps_inf",
      replace("bitnet.attention.layer_norm_rms_epsilon", boundaryKv("Inf", eps)),
    );
    const inspect = await crossval(["inspect", path, "--no-hash"]);
    assert.equal(inspect.code, 1, inspect.stderr);
    assert.match(inspect.stdout, /"bitnet\.attention\.layer_norm_rms_epsilon" = Infinity/);
    for (
      const args of [["run", "--model", path, "-n", "1", "--prompt", "x"], ["tokenize", "--model", path, "--text", "x"]]
    ) {
      const r = await crossval(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /"bitnet\.attention\.layer_norm_rms_epsilon" = Infinity: must be a finite number/,
        args[0],
      );
    }
    // A harmless mutation runs: a tool-private counter at its boundary.
    const version = meta.find(([k]) => k === "crossval.synth.version")![1];
    const named = await writeHostileModel(
      dir,
      "synth_version",
      replace("crossval.synth.version", boundaryKv("2^32-1", version)),
    );
    const tok = await crossval(["tokenize", "--model", named, "--text", "Hello"]);
    assert.equal(tok.code, 0, tok.stderr);
    // Infinity passes ggml's `eps >= 0` assertion, so bypassed it is a receipt too, never a dead parent.
    const parity = await crossval(["parity", "--model", path, "--out", `${dir}/p.json`, "--steps", "2"], {
      env: { CROSSVAL_TEST_SKIP_PREFLIGHT: "1" },
    });
    assert.ok([0, 1, 2, 3].includes(parity.code), `exit ${parity.code}: ${parity.stderr}`);
    assert.ok((await Deno.stat(`${dir}/p.json`)).isFile);
  });
});
