/**
 * Test-only fault injection, outside the engine: deliberate, well-known implementation bugs that a parity harness
 * must detect and localize to a layer. A fault is a patch applied around an unmodified engine, at its named hook
 * points (the intermediates `onTensor` reports: `attn_norm-L` starts layer L, `kqv_out-L` precedes the attention
 * sub-norm, `l_out-L` ends the layer) through a wrapper of the kernel backend that changes the kernels the engine
 * launches inside the broken layer; a weight fault is a model file with that weight flipped. With no faults the
 * engine runs untouched, and the engine's options and forward pass know nothing of them.
 *
 * Used by the parity tests (`tests/parity_faults_test.ts`) and `crossval parity-calibrate --faults`; a receipt
 * produced with faults records them and never verifies.
 *
 * @module
 */

import type { KernelBackend, KernelId, ScratchShape } from "../engine/backends/backend.ts";
import type { KernelRecorder } from "../engine/backends/recorder.ts";
import { GgufFile } from "../engine/gguf/file.ts";
import { configFromGguf } from "../engine/model/architectures.ts";
import type { ModelConfig } from "../engine/model/config.ts";
import type { TensorHook } from "../engine/model/graph.ts";
import { ropeTable } from "../engine/model/rope.ts";
import { activationRowBytes, blockBytes, GgmlType } from "../engine/quant/ggml_type.ts";

/** Projections a code flip can target. */
export type ProjectionName = "attn_q" | "attn_k" | "attn_v" | "attn_output" | "ffn_gate" | "ffn_up" | "ffn_down";

/** Faults to inject (TEST-ONLY). Each value is the layer it breaks. */
export interface Faults {
  /** Rotate adjacent pairs `(2i, 2i+1)` (GGML_ROPE_TYPE_NORMAL) instead of NEOX pairs `(i, i + R/2)`. */
  readonly ropeNorm?: number;
  /**
   * Rotate K as if each token were one position later than its query (the keys in the cache and the queries disagree
   * by one position). Shifting Q and K together would be invisible: RoPE scores depend only on relative positions.
   */
  readonly positionOffByOne?: number;
  /** Skip the attention sub-norm before `attn_output` (its input is the raw attention output). */
  readonly skipSubNorm?: number;
  /** Use SiLU where the architecture uses relu2, and relu2 where it uses SiLU. */
  readonly swapActivation?: number;
  /**
   * Flip the sign of one ternary weight: the first non-zero weight of row `row` (default 0) of `tensor`
   * (default `ffn_down`) in layer `layer`.
   */
  readonly flipTernarySign?: { readonly layer: number; readonly tensor?: ProjectionName; readonly row?: number };
  /** Quantize activations per token (one scale per row) instead of per 256-block (Q8_K) for TQ weights. */
  readonly perTokenActQuant?: number;
}

/** The fault names, for validation messages. */
export const FAULT_NAMES: readonly (keyof Faults)[] = [
  "ropeNorm",
  "positionOffByOne",
  "skipSubNorm",
  "swapActivation",
  "flipTernarySign",
  "perTokenActQuant",
];

/**
 * Check a fault set against a model.
 *
 * @param faults Requested faults.
 * @param cfg The model's hyperparameters.
 * @param hasTq True when the model has TQ1_0/TQ2_0 weights (per-token quantization only applies to them).
 * @throws {RangeError} For an unknown fault or a layer out of range.
 */
export function validateFaults(faults: Faults, cfg: ModelConfig, hasTq: boolean): void {
  for (const key of Object.keys(faults)) {
    if (!FAULT_NAMES.includes(key as keyof Faults)) {
      throw new RangeError(`Unknown fault "${key}": expected one of ${FAULT_NAMES.join(", ")}`);
    }
  }
  const layers: [string, number | undefined][] = [
    ["ropeNorm", faults.ropeNorm],
    ["positionOffByOne", faults.positionOffByOne],
    ["skipSubNorm", faults.skipSubNorm],
    ["swapActivation", faults.swapActivation],
    ["flipTernarySign.layer", faults.flipTernarySign?.layer],
    ["perTokenActQuant", faults.perTokenActQuant],
  ];
  for (const [name, l] of layers) {
    if (l !== undefined && (!Number.isInteger(l) || l < 0 || l >= cfg.nLayer)) {
      throw new RangeError(`Cannot inject fault ${name}=${l}: the model has layers 0..${cfg.nLayer - 1}`);
    }
  }
  if (faults.perTokenActQuant !== undefined && !hasTq) {
    throw new RangeError(
      "Cannot inject fault perTokenActQuant: the model's weights are I2_S, whose activations are already quantized per token",
    );
  }
}

/** A model with faults: the file the engine loads, and the patch to load it with. */
export interface FaultedModel extends Disposable {
  /** The file to load (a temporary copy with the flipped weight for `flipTernarySign`, else the original). */
  readonly path: string;
  /**
   * The patch for one engine instance: wrap its backend and hook it (each engine gets its own: the patch tracks
   * the layer the engine is in).
   *
   * @param inner The backend the engine would have used (the wrapper owns it).
   * @param onTensor The engine's own hook, called after the patch's.
   */
  patch(inner: KernelBackend, onTensor?: TensorHook): { backend: KernelBackend; onTensor: TensorHook };
  /** Remove the temporary copy (idempotent). */
  close(): void;
}

/**
 * Prepare a model file and patches for a fault set.
 *
 * @param path The model.
 * @param faults The faults.
 * @returns The model to load and the patch factory; close it to remove a temporary copy.
 * @throws {RangeError} For an unknown fault, a layer out of range, or a fault the model cannot have.
 * @example
 * ```ts
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * import { Engine } from "../engine/engine.ts";
 * import { createBackend } from "../engine/backends/create.ts";
 * import { applyFaults } from "./faults.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using faulted = await applyFaults(path, { swapActivation: 1 });
 * const { backend, onTensor } = faulted.patch(await createBackend("ref"));
 * using engine = await Engine.load(faulted.path, { backend, onTensor, nCtx: 16 });
 * console.log((await engine.eval([1, 2, 3])).length === engine.config.nVocab); // true
 * ```
 */
export async function applyFaults(path: string, faults: Faults): Promise<FaultedModel> {
  let cfg: ModelConfig, hasTq: boolean;
  {
    using f = GgufFile.open(path);
    cfg = configFromGguf(f);
    hasTq = f.tensors.some((t) => t.type === GgmlType.TQ1_0 || t.type === GgmlType.TQ2_0);
  }
  validateFaults(faults, cfg, hasTq);
  let file = path, tmp: string | undefined;
  if (faults.flipTernarySign) {
    tmp = await Deno.makeTempFile({ prefix: "crossval-fault-", suffix: ".gguf" });
    await Deno.copyFile(path, tmp);
    const f = faults.flipTernarySign;
    const name = `blk.${f.layer}.${f.tensor ?? "ffn_down"}.weight`;
    using g = GgufFile.open(tmp);
    const t = g.tensor(name);
    if (!t) throw new RangeError(`Cannot inject flipTernarySign: "${path}" has no tensor ${name}`);
    const bytes = g.readTensor(name);
    flipFirstNonZero(bytes, t.type, t.shape[0], f.row ?? 0);
    using out = await Deno.open(tmp, { write: true });
    await out.seek(g.header.dataOffset + t.offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < bytes.length) done += await out.write(bytes.subarray(done));
    file = tmp;
  }
  const faulted: FaultedModel = {
    path: file,
    patch: (inner, onTensor) => {
      // The kernel patches follow the engine's layer through its hooks, which must fire as the kernels are launched;
      // without a host-visible arena (webgpu) hooks fire after the chunk's reads, so the patch would hit layer -1.
      const switched = Object.keys(faults).filter((k) => k !== "flipTernarySign");
      if (switched.length && !inner.hostBuffer) {
        throw new TypeError(
          `Cannot inject ${switched.join(", ")} on the ${inner.id} backend: these faults switch kernels at hook ` +
            `points, and a backend without a host-visible arena reports its hooks after the chunk's reads. Use ` +
            `--backend ref or wasm (flipTernarySign works on every backend).`,
        );
      }
      const be = new FaultBackend(inner, faults, cfg);
      return {
        backend: be,
        onTensor: (name, data, info) => {
          be.at(name);
          onTensor?.(name, data, info);
        },
      };
    },
    close() {
      if (tmp) Deno.removeSync(tmp);
      tmp = undefined;
    },
    [Symbol.dispose]() {
      faulted.close();
    },
  };
  return faulted;
}

/**
 * The backend wrapper: every call goes to the real backend, except inside the broken layer, where the faulty
 * kernel replaces the right one.
 */
class FaultBackend implements KernelBackend {
  readonly #inner: KernelBackend;
  readonly #f: Faults;
  readonly #cfg: ModelConfig;
  #layer = -1;
  #ropeCalls = 0;
  #skipNextNorm = false;
  /** `[rows][R]` rows of position-1 angles (rotating K once more by them moves it one position on). */
  #shift = { ptr: 0, rows: 0 };

  constructor(inner: KernelBackend, faults: Faults, cfg: ModelConfig) {
    this.#inner = inner;
    this.#f = faults;
    this.#cfg = cfg;
  }

  /** The named hook point the engine just passed. */
  at(name: string): void {
    const m = /^(.*)-(\d+)$/.exec(name);
    if (!m) {
      this.#layer = -1; // inp_embd, result_norm, result_output
      return;
    }
    const kind = m[1], layer = Number(m[2]);
    if (kind === "attn_norm") {
      this.#layer = layer;
      this.#ropeCalls = 0;
    } else if (kind === "kqv_out" && this.#f.skipSubNorm === layer) this.#skipNextNorm = true;
    else if (kind === "l_out") this.#layer = -1;
  }

  get id(): string {
    return this.#inner.id;
  }
  get threads(): number {
    return this.#inner.threads;
  }
  get hostBuffer(): ArrayBufferLike | undefined {
    return this.#inner.hostBuffer;
  }
  get recorder(): KernelRecorder {
    return this.#inner.recorder;
  }
  alloc(bytes: number, align?: number): number {
    return this.#inner.alloc(bytes, align);
  }
  write(ptr: number, bytes: Uint8Array): void {
    this.#inner.write(ptr, bytes);
  }
  read(ptr: number, bytes: number, into?: Uint8Array): Promise<Uint8Array> {
    return this.#inner.read(ptr, bytes, into);
  }
  scratchBytes(id: KernelId, shape: ScratchShape): number {
    return this.#inner.scratchBytes(id, shape);
  }
  kernels(): string[] {
    return this.#inner.kernels();
  }
  close(): void {
    this.#inner.close();
  }
  [Symbol.dispose](): void {
    this.close();
  }

  run(id: KernelId, ...args: number[]): void {
    const f = this.#f, L = this.#layer, be = this.#inner;
    if (id === "rms_norm" && this.#skipNextNorm) {
      // attn_sub_norm skipped: its output is its input. rms_norm(x, w, y, K, n_rows, eps).
      this.#skipNextNorm = false;
      be.run("copy", args[0], args[2], 4 * args[3] * args[4]);
      return;
    }
    if (L < 0) return be.run(id, ...args);
    if ((id === "rope.neox" || id === "rope.norm") && L === f.ropeNorm) {
      return be.run(id === "rope.neox" ? "rope.norm" : "rope.neox", ...args);
    }
    if ((id === "rope.neox" || id === "rope.norm") && L === f.positionOffByOne && ++this.#ropeCalls === 2) {
      // The second rotation of a layer is K's: rotate it once more by the angles of position 1.
      be.run(id, ...args);
      const [x, , nTok, nHead, headDim, nRot] = args;
      be.run(id, x, this.#shiftRows(nTok), nTok, nHead, headDim, nRot);
      return;
    }
    if ((id === "swiglu" || id === "fast.swiglu" || id === "relu2_glu") && L === f.swapActivation) {
      return be.run(id === "relu2_glu" ? "swiglu" : "relu2_glu", ...args);
    }
    if (id === "quantize.q8_k" && L === f.perTokenActQuant) {
      const [x, y, K, rows] = args, host = be.hostBuffer;
      if (!host) {
        throw new TypeError(`Cannot inject perTokenActQuant on the ${be.id} backend: its arena is not host-visible`);
      }
      const rb = activationRowBytes("q8_k", K);
      const src = new Float32Array(host, x, rows * K), dst = new Uint8Array(host, y, rows * rb);
      for (let r = 0; r < rows; r++) {
        quantizeRowQ8KPerToken(src.subarray(r * K, (r + 1) * K), dst.subarray(r * rb, (r + 1) * rb));
      }
      return;
    }
    be.run(id, ...args);
  }

  #shiftRows(n: number): number {
    const R = this.#cfg.nRot;
    if (n > this.#shift.rows) {
      const one = ropeTable(new Float32Array(R), {
        pos0: 1,
        nRot: R,
        freqBase: this.#cfg.ropeFreqBase,
        freqScale: this.#cfg.ropeFreqScale,
      });
      const rows = new Float32Array(n * R);
      for (let r = 0; r < n; r++) rows.set(one, r * R);
      this.#shift = { ptr: this.#inner.alloc(rows.byteLength), rows: n };
      this.#inner.write(this.#shift.ptr, new Uint8Array(rows.buffer));
    }
    return this.#shift.ptr;
  }
}

const fr = Math.fround;

/**
 * Per-token activation quantization written in the Q8_K layout: one `iscale = -127/max` for the whole row
 * (signed absmax over all K values) shared by every 256-block, instead of one per block. The TQ x Q8_K matmul
 * consumes it unchanged.
 *
 * @param x One row of K floats.
 * @param dst The row's `K/256` Q8_K blocks.
 */
function quantizeRowQ8KPerToken(x: Float32Array, dst: Uint8Array): void {
  let max = 0, amax = 0;
  for (let j = 0; j < x.length; j++) {
    const a = Math.abs(x[j]);
    if (a > amax) {
      amax = a;
      max = x[j];
    }
  }
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  const iscale = amax === 0 ? 0 : fr(-127 / max);
  for (let b = 0; b < x.length / 256; b++) {
    const o = b * blockBytes(GgmlType.Q8_K);
    dv.setFloat32(o, amax === 0 ? 0 : fr(1 / iscale), true);
    for (let g = 0; g < 16; g++) {
      let s = 0;
      for (let j = 0; j < 16; j++) {
        const v = fr(iscale * x[b * 256 + g * 16 + j]);
        const q = Math.min(127, Math.fround(v + 12582912) - 12582912);
        dv.setInt8(o + 4 + g * 16 + j, q);
        s += q;
      }
      dv.setInt16(o + 260 + g * 2, s, true);
    }
  }
}

/** Trit `l` (0 = most significant) of a TQ1_0 byte, as ggml decodes it. */
function tq1Trit(byte: number, l: number): number {
  return ((((byte * 3 ** l) & 0xff) * 3) >>> 8);
}

/** Location of element `e` (0..255) of a TQ1_0 block: byte offset, trit index, trits in that byte. */
function tq1Where(e: number): [number, number, number] {
  if (e < 160) return [e % 32, Math.floor(e / 32), 5];
  if (e < 240) return [32 + ((e - 160) % 16), Math.floor((e - 160) / 16), 5];
  return [48 + ((e - 240) % 4), Math.floor((e - 240) / 4), 4];
}

/**
 * Flip the sign of the first non-zero weight of one row of a ternary tensor, in place.
 *
 * @param bytes The tensor's bytes (GGUF layout).
 * @param type GGML type (TQ2_0, TQ1_0 or I2_S).
 * @param k Row length K.
 * @param row Row index.
 * @returns The element index that was flipped.
 * @throws {RangeError} When the row has no non-zero weight or the type is not ternary.
 */
export function flipFirstNonZero(bytes: Uint8Array, type: number, k: number, row: number): number {
  for (let e = 0; e < k; e++) {
    if (type === GgmlType.TQ2_0) {
      const bb = blockBytes(GgmlType.TQ2_0), blk = row * (k / 256) * bb + Math.floor(e / 256) * bb, r = e % 256;
      const at = blk + (r >> 7) * 32 + (r & 31), shift = 2 * ((r & 127) >> 5);
      const c = (bytes[at] >> shift) & 3;
      if (c === 1) continue;
      bytes[at] = (bytes[at] & ~(3 << shift)) | ((2 - c) << shift);
      return e;
    }
    if (type === GgmlType.TQ1_0) {
      const bb = blockBytes(GgmlType.TQ1_0), blk = row * (k / 256) * bb + Math.floor(e / 256) * bb;
      const [off, l, n] = tq1Where(e % 256);
      const byte = bytes[blk + off];
      const trits = Array.from({ length: n }, (_, i) => tq1Trit(byte, i));
      if (trits[l] === 1) continue;
      trits[l] = 2 - trits[l];
      let q = 0;
      for (const t of trits) q = q * 3 + t;
      if (n === 4) q *= 3;
      bytes[blk + off] = Math.floor((q * 256 + 242) / 243);
      return e;
    }
    if (type === GgmlType.I2_S) {
      const at = row * (k / 4) + Math.floor(e / 128) * 32 + (e & 31), shift = 6 - 2 * ((e & 127) >> 5);
      const c = (bytes[at] >> shift) & 3;
      if (c === 1) continue;
      bytes[at] = (bytes[at] & ~(3 << shift)) | ((2 - c) << shift);
      return e;
    }
    throw new RangeError(`Cannot flip a ternary code in a tensor of type ${type}: expected TQ2_0, TQ1_0 or I2_S`);
  }
  throw new RangeError(`Cannot inject flipTernarySign: row ${row} has no non-zero weight. Pick another row.`);
}
