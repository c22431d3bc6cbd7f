/**
 * The Deno driver of the reference child-process protocol (`ffi/PROTOCOL.md`): runs {@link CppModel} (llama.cpp
 * through `Deno.dlopen`) in its own process and answers the supervisor's requests on stdin/stdout, so that an
 * abort inside llama.cpp ends this process and not the tool. Started by `ref_process.ts` as
 * `deno run -A ffi/ref_child.ts`, or as `crossval __reference-child` from a compiled binary.
 *
 * The channel is protected from native output first: the original stdout is duplicated to a private descriptor
 * for frames and stdout is pointed at stderr (`dup`/`dup2` from libc), so a stray `printf` in the library lands on
 * stderr instead of corrupting a frame.
 *
 * @module
 */

import { argmax, CppModel } from "./cpp_model.ts";
import { LlamaLibrary, llamaLog } from "./llama_library.ts";
import type { CppModelInfo } from "./cpp_model_types.ts";
import type { LlamaLogLevel } from "./llama_log.ts";
import {
  encodeHeader,
  FieldError,
  Fields,
  type Frame,
  frameParts,
  FrameReader,
  MAX_PAYLOAD_BYTES,
  payloads,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  type ProtocolError,
} from "./ref_protocol.ts";

/** Ops this driver implements (hello's `ops`). */
export const CHILD_OPS: readonly string[] = [
  "hello",
  "load",
  "info",
  "tokenize",
  "detokenize",
  "pieces",
  "is_eog",
  "meta",
  "eval",
  "reset",
  "greedy",
  "capture",
  "unload",
  "close",
];

/** Driver version (hello's `driver_version`). */
const DRIVER_VERSION = "1";

/** An error the driver answers with `status=error` (PROTOCOL.md section 3). */
class ReplyError extends Error {
  constructor(readonly code: string, message: string, readonly extra: Record<string, string | number> = {}) {
    super(message);
  }
}

type Out = {
  header: Record<string, string | number | boolean | readonly number[] | undefined>;
  payload?: Uint8Array[];
};

const LEVEL_RANK: Record<LlamaLogLevel | "none", number> = { debug: 0, info: 1, warn: 2, error: 3, none: 4 };

const LIBC = {
  dup: { parameters: ["i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
} as const;

/** The frame channel: a private copy of the original stdout, written with libc `write`. */
class Channel {
  readonly #fd: number;
  readonly #libc: Deno.DynamicLibrary<typeof LIBC> | null;

  private constructor(fd: number, libc: Deno.DynamicLibrary<typeof LIBC> | null) {
    this.#fd = fd;
    this.#libc = libc;
  }

  /** Duplicate stdout for frames and redirect fd 1 to stderr; falls back to plain stdout when libc is not there. */
  static open(): Channel {
    try {
      const libc = Deno.dlopen("libc.so.6", LIBC);
      const fd = libc.symbols.dup(1);
      if (fd < 0 || libc.symbols.dup2(2, 1) < 0) throw new Error("dup failed");
      return new Channel(fd, libc);
    } catch {
      return new Channel(1, null);
    }
  }

  /** Write every part, in order, completely (blocking: the supervisor reads concurrently). */
  write(parts: readonly Uint8Array[]): void {
    for (const part of parts) {
      let o = 0;
      while (o < part.length) {
        const chunk = part.subarray(o);
        const n = this.#libc
          ? Number(this.#libc.symbols.write(this.#fd, chunk, BigInt(chunk.length)))
          : Deno.stdout.writeSync(chunk);
        if (n <= 0) throw new Error(`Cannot write a frame to the supervisor (write returned ${n})`);
        o += n;
      }
    }
  }
}

function stderrLine(text: string): void {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(text + "\n"));
  } catch {
    // stderr gone: nothing to tell
  }
}

function infoFields(handle: number, i: CppModelInfo): Out["header"] {
  const s = i.settings;
  return {
    model: handle,
    arch: i.arch,
    name: i.name,
    description: i.description,
    n_vocab: i.nVocab,
    n_ctx_train: i.nCtxTrain,
    n_embd: i.nEmbd,
    n_layer: i.nLayer,
    n_head: i.nHead,
    n_head_kv: i.nHeadKv,
    n_params: i.nParams,
    size_bytes: i.sizeBytes,
    bos: i.bos,
    eos: i.eos,
    eot: i.eot,
    add_bos: i.addBos,
    add_eos: i.addEos,
    vocab_only: s.vocabOnly,
    parity: s.parity,
    capture: s.captureTensors,
    n_ctx: s.nCtx,
    n_batch: s.nBatch,
    n_ubatch: s.nUbatch,
    threads: s.threads,
    threads_batch: s.threadsBatch,
    type_k: s.typeK,
    type_v: s.typeV,
    flash_attn: s.flashAttn,
    flash_attn_resolved: s.flashAttnResolved,
    load_ms: i.loadMs,
  };
}

/** Map what CppModel throws to an error code (PROTOCOL.md section 3). */
function classify(e: unknown): ReplyError {
  if (e instanceof ReplyError) return e;
  if (e instanceof FieldError) return new ReplyError("bad_request", e.message, { field: e.field });
  const err = e instanceof Error ? e : new Error(String(e));
  const msg = err.message;
  if (err.name === "LibraryLoadError") return new ReplyError("library", msg);
  if (e instanceof Deno.errors.NotFound) return new ReplyError("not_found", msg);
  if (e instanceof SyntaxError || /llama\.cpp rejected it/.test(msg)) return new ReplyError("invalid_model", msg);
  if (/^Cannot create a llama\.cpp context/.test(msg)) return new ReplyError("context", msg);
  const rc = /^llama_decode failed with (-?\d+)/.exec(msg);
  if (rc) return new ReplyError("decode", msg, { rc: Number(rc[1]) });
  if (e instanceof RangeError) return new ReplyError("range", msg);
  if (e instanceof TypeError) return new ReplyError("state", msg);
  return new ReplyError("internal", msg);
}

/** The driver's state: the library (after hello) and the loaded models by handle. */
class Driver {
  readonly #models = new Map<number, CppModel>();
  #nextHandle = 1;
  #lib: LlamaLibrary | null = null;
  #cppDir: string | undefined;
  #unsubscribe: () => void = () => {};
  /** Where large payloads go as files (hello's `bulk_dir`), or null. */
  bulkDir: string | null = null;

  #model(f: Fields, op: string): [number, CppModel] {
    const h = f.int("model");
    const m = this.#models.get(h);
    if (!m) {
      throw new ReplyError(
        "bad_handle",
        `Cannot ${op}: no model ${h} is loaded (loaded: ${
          [...this.#models.keys()].join(", ") || "none"
        }). Load it first.`,
      );
    }
    return [h, m];
  }

  async handle(frame: Frame): Promise<Out> {
    const op = frame.header.op ?? "";
    const f = new Fields(frame.header, `request "${op}"`);
    if (op !== "hello" && !this.#lib && CHILD_OPS.includes(op)) {
      throw new ReplyError("state", `Cannot ${op} before hello: send hello first`);
    }
    const p = frame.payload;
    switch (op) {
      case "hello":
        return await this.#hello(f);
      case "load": {
        const vocabOnly = f.bool("vocab_only", false);
        const nCtx = f.int("n_ctx", 0), nBatch = f.int("n_batch", 0), threads = f.int("threads", 0);
        const m = await CppModel.load(f.str("path"), {
          vocabOnly,
          parity: f.bool("parity", false),
          captureTensors: f.bool("capture", false),
          ...(nCtx > 0 ? { ctx: nCtx } : {}),
          ...(nBatch > 0 ? { batch: nBatch } : {}),
          ...(threads > 0 ? { threads } : {}),
          ...(this.#cppDir !== undefined ? { cppDir: this.#cppDir } : {}),
        });
        const h = this.#nextHandle++;
        this.#models.set(h, m);
        return { header: infoFields(h, m.info()) };
      }
      case "info": {
        const [h, m] = this.#model(f, "read info");
        return { header: infoFields(h, m.info()) };
      }
      case "tokenize": {
        const [, m] = this.#model(f, "tokenize");
        const ids = m.tokenize(p, {
          addSpecial: f.bool("add_special", true),
          parseSpecial: f.bool("parse_special", false),
        });
        return { header: { n: ids.length }, payload: [payloads.ids(ids)] };
      }
      case "detokenize": {
        const [, m] = this.#model(f, "detokenize");
        const bytes = m.detokenizeBytes(payloads.readIds(p), {
          removeSpecial: f.bool("remove_special", false),
          unparseSpecial: f.bool("unparse_special", false),
        });
        return { header: {}, payload: [bytes] };
      }
      case "pieces": {
        const [, m] = this.#model(f, "convert tokens to text");
        const opts = { special: f.bool("special", false), lstrip: f.int("lstrip", 0) };
        const ids = payloads.readIds(p);
        const items = Array.from(ids, (id) => m.tokenToPiece(id, opts));
        return { header: { n: ids.length }, payload: [payloads.items(items)] };
      }
      case "is_eog": {
        const [, m] = this.#model(f, "query tokens");
        const ids = payloads.readIds(p);
        return { header: { n: ids.length }, payload: [Uint8Array.from(ids, (id) => (m.isEog(id) ? 1 : 0))] };
      }
      case "meta": {
        const [, m] = this.#model(f, "read metadata");
        const key = f.opt("key");
        if (key !== undefined) {
          const v = m.meta(key);
          return { header: { found: v !== undefined, value: v } };
        }
        const enc = new TextEncoder();
        const all = Object.entries(m.metadata());
        return {
          header: { n: all.length },
          payload: [payloads.items(all.flatMap(([k, v]) => [enc.encode(k), enc.encode(v)]))],
        };
      }
      case "eval":
        return this.#eval(f, p);
      case "reset": {
        const [, m] = this.#model(f, "reset");
        m.reset();
        return { header: { n_past: 0 } };
      }
      case "greedy": {
        const [, m] = this.#model(f, "generate");
        if (f.bool("logits", false)) return this.#greedyWithLogits(m, f, p);
        const r = m.generateGreedy(payloads.readIds(p), f.int("n"), { stopAtEog: f.bool("stop_at_eog", true) });
        const t = r.timings;
        return {
          header: {
            n: r.ids.length,
            stopped_at_eog: r.stoppedAtEog,
            prompt_tokens: t.promptTokens,
            prompt_ms: t.promptMs,
            gen_decodes: t.genDecodes,
            gen_ms: t.genMs,
          },
          payload: [payloads.ids(r.ids)],
        };
      }
      case "capture":
        return this.#capture(f, p);
      case "unload": {
        const [h, m] = this.#model(f, "unload");
        m.close();
        this.#models.delete(h);
        return { header: {} };
      }
      case "close":
        this.closeAll();
        return { header: {} };
      default:
        throw new ReplyError(
          "unsupported_op",
          `Unknown op ${JSON.stringify(op)}: this driver implements ${CHILD_OPS.join(", ")}`,
        );
    }
  }

  async #hello(f: Fields): Promise<Out> {
    const major = f.int("protocol");
    if (major !== PROTOCOL_MAJOR) {
      throw new ReplyError(
        "unsupported_protocol",
        `This driver speaks protocol ${PROTOCOL_MAJOR}.${PROTOCOL_MINOR}, not ${major}. Use a matching supervisor.`,
        { protocol: PROTOCOL_MAJOR },
      );
    }
    const level = f.oneOf("log", ["none", "error", "warn", "info", "debug"] as const, "warn");
    this.#cppDir = f.opt("cpp_dir") || undefined;
    this.bulkDir = f.opt("bulk_dir") || null;
    const lib = await LlamaLibrary.open(this.#cppDir !== undefined ? { cppDir: this.#cppDir } : {});
    this.#unsubscribe();
    this.#unsubscribe = llamaLog().subscribe((l) => {
      if (LEVEL_RANK[l.level] >= LEVEL_RANK[level]) stderrLine(`llama.cpp ${l.level}: ${l.text}`);
    });
    this.#lib = lib;
    const i = lib.info;
    const cpu = i.devices.find((d) => d.name === "CPU");
    return {
      header: {
        protocol: PROTOCOL_MAJOR,
        protocol_minor: PROTOCOL_MINOR,
        ops: CHILD_OPS.join(","),
        driver: "deno",
        driver_version: DRIVER_VERSION,
        pid: Deno.pid,
        library: i.source === "npm" ? "llama.cpp" : "custom",
        source: i.source,
        dir: i.dir,
        release: i.release,
        version: i.version,
        commit: i.bindingCommit,
        ggml_version: i.ggmlVersion,
        ggml_commit: i.ggmlCommit,
        build_flags: "",
        backend: cpu ? `CPU${i.cpuVariant ? ` (${i.cpuVariant})` : ""}` : i.devices[0]?.name ?? "?",
        cpu_variant: i.cpuVariant,
        system_info: i.systemInfo,
        abi_check: i.abiCheck,
      },
    };
  }

  #eval(f: Fields, p: Uint8Array): Out {
    const [, m] = this.#model(f, "eval");
    const append = f.oneOf("mode", ["reset", "append"] as const, "reset") === "append";
    const logits = f.oneOf("logits", ["all", "last", "none"] as const, "last");
    const ids = payloads.readIds(p);
    const rows = logits === "all" ? ids.length : logits === "last" ? 1 : 0;
    if (rows * m.nVocab * 4 > MAX_PAYLOAD_BYTES) {
      throw new ReplyError(
        "too_large",
        `Cannot return ${rows} rows of ${m.nVocab} logits in one reply (over 4 GiB): send the input in parts`,
      );
    }
    const pos0 = append ? m.nPast : 0;
    const t0 = performance.now();
    const r = m.eval(ids, { positions: logits === "all" ? "all" : "last", append });
    const decodeMs = performance.now() - t0;
    return {
      header: { rows, n_vocab: m.nVocab, pos0, n_past: m.nPast, decode_ms: decodeMs },
      // The view into llama.cpp's buffer is written out before anything can decode again: no copy.
      payload: rows ? [payloads.f32(r.logits)] : [],
    };
  }

  /** Greedy decoding that also returns the logits each token was taken from (one row per generated token). */
  #greedyWithLogits(m: CppModel, f: Fields, p: Uint8Array): Out {
    const n = f.int("n"), stopAtEog = f.bool("stop_at_eog", true);
    const prompt = payloads.readIds(p), nVocab = m.nVocab, nCtx = m.info().settings.nCtx;
    if (n < 0) throw new RangeError(`Cannot generate ${n} tokens: n must be an integer >= 0`);
    if (prompt.length === 0) throw new RangeError("Cannot generate from an empty prompt: it has no tokens");
    if (prompt.length + n > nCtx + 1) {
      throw new RangeError(
        `Cannot generate ${n} tokens after a ${prompt.length}-token prompt: the context holds ${nCtx}. ` +
          `Load with a larger ctx or ask for fewer tokens.`,
      );
    }
    if (n * nVocab * 4 > MAX_PAYLOAD_BYTES) {
      throw new ReplyError("too_large", `Cannot return ${n} rows of ${nVocab} logits in one reply: ask for fewer`);
    }
    const rows = new Float32Array(n * nVocab);
    const out: number[] = [];
    let stopped = false, decodes = 0;
    const t0 = performance.now();
    let logits = n > 0 ? m.eval(prompt).logits : new Float32Array(0);
    const t1 = performance.now();
    while (out.length < n) {
      rows.set(logits, out.length * nVocab);
      const tok = argmax(logits);
      out.push(tok);
      if (stopAtEog && m.isEog(tok)) {
        stopped = true;
        break;
      }
      if (out.length === n) break;
      logits = m.decode([tok]);
      decodes++;
    }
    const t2 = performance.now();
    const ids = Int32Array.from(out);
    return {
      header: {
        n: ids.length,
        n_vocab: nVocab,
        stopped_at_eog: stopped,
        prompt_tokens: prompt.length,
        prompt_ms: t1 - t0,
        gen_decodes: decodes,
        gen_ms: t2 - t1,
      },
      payload: [payloads.ids(ids), payloads.f32(rows.subarray(0, ids.length * nVocab))],
    };
  }

  #capture(f: Fields, p: Uint8Array): Out {
    const [, m] = this.#model(f, "capture tensors");
    if (!m.info().settings.captureTensors) {
      throw new ReplyError(
        "state",
        `Cannot capture tensors: the model was loaded without capture=1. Load it with capture=1.`,
      );
    }
    let filter: RegExp;
    try {
      filter = new RegExp(f.str("filter"));
    } catch (e) {
      throw new ReplyError("bad_request", `Invalid capture filter: ${(e as Error).message}`, { field: "filter" });
    }
    const logits = f.oneOf("logits", ["all", "last"] as const, "all");
    const ids = payloads.readIds(p);
    const t0 = performance.now();
    const r = m.eval(ids, { positions: logits, capture: filter });
    const decodeMs = performance.now() - t0;
    const header: Out["header"] = { rows: r.rows, n_vocab: r.nVocab, pos0: 0, n_past: m.nPast, decode_ms: decodeMs };
    const parts: Uint8Array[] = [payloads.f32(r.logits)];
    let i = 0;
    for (const t of r.capture?.tensors.values() ?? []) {
      header[`tensor.${i}.name`] = t.name;
      header[`tensor.${i}.type`] = t.type;
      header[`tensor.${i}.shape`] = t.shape;
      parts.push(payloads.f32(t.data));
      i++;
    }
    header.tensors = i;
    let j = 0;
    for (const [name, reason] of r.capture?.skipped ?? []) {
      header[`skipped.${j}.name`] = name;
      header[`skipped.${j}.reason`] = reason;
      j++;
    }
    header.skipped = j;
    return { header, payload: parts };
  }

  /** Free every model (close, EOF). */
  closeAll(): void {
    for (const m of this.#models.values()) m.close();
    this.#models.clear();
  }
}

/** Payloads from this size on go through a bulk file when the supervisor offered a directory. */
const BULK_MIN_BYTES = 256 * 1024;
/** The one bulk file: requests are strictly sequential, and the supervisor removes it after reading. */
const BULK_FILE = "reply.bin";

/** Write the parts to `path` (a fresh file); false when that fails, so the reply goes through the pipe instead. */
function writeBulk(path: string, parts: readonly Uint8Array[]): boolean {
  try {
    using f = Deno.openSync(path, { write: true, create: true, truncate: true });
    for (const part of parts) {
      for (let o = 0; o < part.length;) o += f.writeSync(part.subarray(o));
    }
    return true;
  } catch {
    try {
      Deno.removeSync(path);
    } catch {
      // nothing written
    }
    return false;
  }
}

/**
 * Serve the protocol on stdin/stdout until `close` or end of input, then exit.
 *
 * @returns Never (the process exits: 0 after `close` or EOF, 3 after a protocol violation).
 */
export async function serveReferenceChild(): Promise<never> {
  const channel = Channel.open();
  // A Ctrl-C reaches the whole process group; the supervisor decides what it means and ends us itself.
  try {
    Deno.addSignalListener("SIGINT", () => {});
  } catch {
    // signals not supported here
  }
  const driver = new Driver();
  const reader = new FrameReader(Deno.stdin);
  for (;;) {
    let frame: Frame | null;
    try {
      frame = await reader.next();
    } catch (e) {
      stderrLine(`reference driver: protocol violation: ${(e as ProtocolError).message}`);
      driver.closeAll();
      Deno.exit(3);
    }
    if (!frame) {
      driver.closeAll();
      Deno.exit(0);
    }
    const seq = frame.header.seq ?? "0";
    let out: Out;
    try {
      out = await driver.handle(frame);
      out = { header: { seq, status: "ok", ...out.header }, ...(out.payload ? { payload: out.payload } : {}) };
    } catch (e) {
      const r = classify(e);
      out = { header: { seq, status: "error", error: r.code, message: r.message, ...r.extra } };
    }
    let parts = out.payload ?? [];
    let total = parts.reduce((n, b) => n + b.length, 0);
    if (driver.bulkDir && total >= BULK_MIN_BYTES && writeBulk(`${driver.bulkDir}/${BULK_FILE}`, parts)) {
      out.header.payload_file = BULK_FILE;
      out.header.payload_bytes = total;
      parts = [];
      total = 0;
    }
    const [prefix] = frameParts(encodeHeader(out.header), new Uint8Array(0));
    // The payload length is patched in so the parts are written without being joined into one buffer.
    new DataView(prefix.buffer).setUint32(prefix.length - 4, total, true);
    channel.write([prefix, ...parts]);
    if (frame.header.op === "close" && out.header.status === "ok") Deno.exit(0);
  }
}

if (import.meta.main) await serveReferenceChild();
