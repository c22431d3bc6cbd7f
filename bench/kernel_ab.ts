/**
 * Before/after timing of one kernel change:
 * `deno run -A bench/kernel_ab.ts <before-root> <after-root> [--reps N] [--only <text>]` (`--only` runs the cases
 * whose name contains the text). Each root is a checkout of this repository (the `before` one e.g. `git archive HEAD
 * kernels-wasm engine/backends/kernel_table.ts | tar -x -C /tmp/before`); both kernel modules are loaded into this
 * process (2 threads each) and every case runs interleaved, before then after, so a busy machine slows both alike.
 * Shapes are the 2B4T decode shapes: `fast.attention` and `attention` for one token at cache positions 0, 512 and
 * 2048 (20/5 heads of 128, f32 cache), over the 30 layers' caches in turn (324 MB: read from DRAM, as in a real
 * decode step, not from the last-level cache); the F16 output GEMV on a 32768 x 2560 slice of the embedding (168 MB:
 * as uncached as the full 128256 rows); and the ternary GEMV (`fast.gemm.tq2_0x2_q8_k`, `gemm.tq2_0_q8_k`) over 30
 * matrices of the fused up/gate shape (13824 x 2560 TQ2_0, 274 MB: again from DRAM) and over a cache-resident slice;
 * and the ternary GEMM of one such matrix times 64 tokens (a prompt batch).
 * Prints the median milliseconds of each side, the median of the per-pair after/before time ratios
 * (docs/performance.md "Kernel log"), and whether both sides wrote the same output bytes (`same bits`, or the
 * number of differing f32 values and the largest difference): both get identical inputs.
 *
 * @module
 */

import { blockBytes, ggmlTensorBytes, GgmlType } from "../engine/quant/ggml_type.ts";

/** A kernel module as the loader exposes it. */
interface Kernels {
  readonly buffer: SharedArrayBuffer;
  alloc(bytes: number, align?: number): number;
  run(id: string, ...args: number[]): void;
}

const N_HEAD = 20, N_HEAD_KV = 5, HEAD_DIM = 128, N_CTX = 2112, N_LAYER = 30, VOCAB = 32768, K = 2560, THREADS = 2;
/** Tokens of the prefill (GEMM) cases. */
const PREFILL = 64;
/** Rows of the ternary matrices (up and gate fused, as a decode step runs them). */
const TERNARY_ROWS = 13824;
/** A TQ2_0 block (64 bytes of codes, then the f16 scale), from the type table. */
const TQ2_0_BYTES = blockBytes(GgmlType.TQ2_0);

/** Random TQ2_0 (or TQ2_0x2: the same blocks, in another order) rows with scale 1.0 in every block. */
function ternary(rows: number, k: number): Uint8Array {
  const b = new Uint8Array(ggmlTensorBytes(GgmlType.TQ2_0, rows * k));
  let s = 0x9e3779b9;
  for (let i = 0; i < b.length; i++) {
    s ^= s << 13, s ^= s >>> 17, s ^= s << 5;
    b[i] = s & 0xff;
  }
  for (let o = TQ2_0_BYTES - 2; o < b.length; o += TQ2_0_BYTES) b[o] = 0x00, b[o + 1] = 0x3c;
  return b;
}

function values(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
}

async function setup(root: string) {
  const { WasmKernels } = await import(`${root}/kernels-wasm/wasm_kernels.ts`);
  const m: Kernels = await WasmKernels.create({ threads: THREADS });
  const put = (a: ArrayBufferView) => {
    const p = m.alloc(a.byteLength);
    new Uint8Array(m.buffer, p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return p;
  };
  const kv = N_CTX * N_HEAD_KV * HEAD_DIM;
  const layer = values(kv);
  const q = put(values(N_HEAD * HEAD_DIM));
  const k = Array.from({ length: N_LAYER }, () => put(layer)), v = Array.from({ length: N_LAYER }, () => put(layer));
  const out = m.alloc(4 * N_HEAD * HEAD_DIM), scratch = m.alloc(4 * N_CTX * Math.max(4 * THREADS, N_HEAD));
  const f16 = Uint16Array.from({ length: VOCAB * K }, (_, i) => 0x3000 + ((i * 2654435761) >>> 22));
  const w = put(f16), x = put(values(K)), xq = m.alloc(2 * K), y = m.alloc(4 * VOCAB);
  m.run("quantize.f16", x, xq, K, 1);
  const t = ternary(TERNARY_ROWS, K);
  const tw = Array.from({ length: N_LAYER }, () => put(t));
  const x8 = m.alloc(ggmlTensorBytes(GgmlType.Q8_K, K)), ty = m.alloc(4 * TERNARY_ROWS);
  m.run("quantize.q8_k", x, x8, K, 1);
  const xp = put(values(PREFILL * K)), xp8 = m.alloc(ggmlTensorBytes(GgmlType.Q8_K, PREFILL * K));
  m.run("quantize.q8_k", xp, xp8, K, PREFILL);
  const typ = m.alloc(4 * TERNARY_ROWS * PREFILL);
  return { m, q, k, v, out, scratch, w, x, xq, y, tw, x8, ty, xp8, typ };
}

if (import.meta.main) {
  const [before, after] = Deno.args;
  if (!before || !after) {
    console.error("usage: deno run -A bench/kernel_ab.ts <before-root> <after-root> [--reps N] [--only <text>]");
    Deno.exit(2);
  }
  const i = Deno.args.indexOf("--reps");
  const reps = i >= 0 ? Number(Deno.args[i + 1]) : 15;
  const o = Deno.args.indexOf("--only");
  const only = o >= 0 ? Deno.args[o + 1] : "";
  const sides = [await setup(before), await setup(after)];
  type Side = (typeof sides)[number];
  /** Name, the work, and where its f32 output lies (offset, count) in a side's memory. */
  const cases: [string, (s: Side) => void, (s: Side) => [number, number]][] = [];
  for (const pos of [0, 512, 2048]) {
    for (const id of ["fast.attention", "attention"]) {
      const args = [1, pos, N_HEAD, N_HEAD_KV, HEAD_DIM, N_CTX, 1 / Math.sqrt(HEAD_DIM)];
      cases.push([`${id} @${pos} x${N_LAYER}`, (s) => {
        for (let l = 0; l < N_LAYER; l++) s.m.run(id, s.q, s.k[l], s.v[l], s.out, s.scratch, ...args);
      }, (s) => [s.out, N_HEAD * HEAD_DIM]]);
    }
  }
  const y = (s: Side): [number, number] => [s.y, VOCAB];
  cases.push([`gemm.f16_f16 ${VOCAB}x${K}`, (s) => s.m.run("gemm.f16_f16", s.w, s.xq, s.y, VOCAB, K, 1), y]);
  cases.push([`fast.gemm.f16_f32 ${VOCAB}x${K}`, (s) => s.m.run("fast.gemm.f16_f32", s.w, s.x, s.y, VOCAB, K, 1), y]);
  for (const id of ["fast.gemm.tq2_0x2_q8_k", "gemm.tq2_0_q8_k"]) {
    cases.push([`${id} ${TERNARY_ROWS}x${K} x${N_LAYER}`, (s) => {
      for (let l = 0; l < N_LAYER; l++) s.m.run(id, s.tw[l], s.x8, s.ty, TERNARY_ROWS, K, 1);
    }, (s) => [s.ty, TERNARY_ROWS]]);
    // The same work on 1/16 of one matrix (576 KB, cache-resident): the kernel's speed without DRAM.
    cases.push([`${id} ${TERNARY_ROWS / 16}x${K} x${N_LAYER * 16} cached`, (s) => {
      for (let l = 0; l < N_LAYER * 16; l++) s.m.run(id, s.tw[0], s.x8, s.ty, TERNARY_ROWS / 16, K, 1);
    }, (s) => [s.ty, TERNARY_ROWS / 16]]);
    // Prefill: one matrix times a batch of tokens (a GEMM, as a prompt batch runs it).
    cases.push([`${id} ${TERNARY_ROWS}x${K} x${PREFILL} tokens`, (s) => {
      s.m.run(id, s.tw[0], s.xp8, s.typ, TERNARY_ROWS, K, PREFILL);
    }, (s) => [s.typ, TERNARY_ROWS * PREFILL]]);
  }
  /** `same bits`, or how many f32 outputs differ between the sides and by how much at most. */
  const compare = (where: (s: Side) => [number, number]): string => {
    const [a, b] = sides.map((s) => {
      const [p, n] = where(s);
      return new Float32Array(s.m.buffer, p, n);
    });
    let differ = 0, max = 0;
    for (let i = 0; i < a.length; i++) {
      if (Object.is(a[i], b[i])) continue;
      differ++;
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return differ === 0 ? "same bits" : `${differ} of ${a.length} outputs differ (max |d| ${max.toPrecision(3)})`;
  };
  const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
  for (const [name, f, where] of cases.filter(([name]) => name.includes(only))) {
    const t: number[][] = [[], []];
    for (let r = -2; r < reps; r++) {
      for (let j = 0; j < 2; j++) {
        const t0 = performance.now();
        f(sides[j]);
        if (r >= 0) t[j].push(performance.now() - t0);
      }
    }
    const ratio = median(t[1].map((x, r) => x / t[0][r]));
    console.log(
      `${name.padEnd(30)} before ${median(t[0]).toFixed(3).padStart(8)} ms  after ${
        median(t[1]).toFixed(3).padStart(8)
      } ms  after/before ${ratio.toFixed(3)}  ${compare(where)}`,
    );
  }
  Deno.exit(0);
}
