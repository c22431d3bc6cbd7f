/**
 * The `fast` numerics profile's kernels (kernel ids `fast.*`) and the bandwidth probe against their scalar twins,
 * on both modules and 1 and 2 threads, on random and edge inputs (tails, odd row counts, all-zero blocks, extreme
 * and tiny activations, subnormal scales). Integer-exact kernels (ternary GEMM, repacks, probe) and every kernel
 * of the SIMD128 module must give the twin's bytes; the relaxed module's float kernels (fused multiply-adds) are
 * compared with the bounds of `engine/backends/tolerances.ts`.
 */

import { equal, ok } from "node:assert/strict";
import { assertSameBytes, type Buf, gauss, largestTernarySums, randomF16, Rig, rng } from "./_testing.ts";
import { TOLERANCES } from "../engine/backends/tolerances.ts";

/** Random TQ2_0 rows: codes 0..2 (every 16th byte random, so code 3 too), some all-zero-weight blocks (code 1),
 * scales normal, subnormal or zero. */
function tq2Rows(r: () => number, nOut: number, k: number): Uint8Array {
  const nb = nOut * k / 256;
  const out = new Uint8Array(nb * 66);
  for (let b = 0; b < nb; b++) {
    const zero = r() < 0.1;
    for (let i = 0; i < 64; i++) {
      let v = 0;
      for (let j = 0; j < 4; j++) v |= (zero ? 1 : Math.floor(r() * 3)) << (2 * j);
      out[b * 66 + i] = !zero && r() < 1 / 16 ? Math.floor(r() * 256) : v;
    }
    const u = r();
    const d = u < 0.05 ? 0 : u < 0.1 ? 1 + Math.floor(r() * 1023) : randomF16(r, 0.05) & 0x7fff;
    new DataView(out.buffer).setUint16(b * 66 + 64, d, true);
  }
  return out;
}

/** Activation rows: Gaussian, with (per row) an all-zero block, a block of +-1e4 and a block of tiny values. */
function activations(r: () => number, n: number, k: number): Float32Array {
  const x = Float32Array.from({ length: n * k }, () => gauss(r));
  for (let t = 0; t < n; t++) {
    const row = x.subarray(t * k, (t + 1) * k);
    const b = Math.min(256, k), nbk = Math.max(1, Math.floor(k / b));
    const pick = (i: number) => row.subarray((i % nbk) * b, (i % nbk) * b + b);
    if (t % 3 === 1) pick(t).fill(0);
    if (t % 3 === 2) pick(t + 1).forEach((_, i, a) => (a[i] = i % 2 ? 1e4 : -1e4));
    if (t % 4 === 3) pick(t + 2).forEach((_, i, a) => (a[i] = (i % 3 - 1) * 1e-30));
  }
  return x;
}

function f32s(rig: Rig, b: Buf, i: number): Float32Array {
  return new Float32Array(rig.read(b, i).buffer);
}

/**
 * Every backend of the rig against backend 0's scalar twin (`ref`): SIMD128 backends and scalar twins byte for
 * byte; relaxed backends within `rel * scaleOf(j)` per element (`scaleOf`: the sum of |terms| of output j).
 */
function assertTwin(rig: Rig, out: Buf, ref: Buf, what: string, rel: number, scaleOf: (j: number) => number): void {
  const want = f32s(rig, ref, 0);
  for (let i = 0; i < rig.backends.length; i++) {
    const exact = rig.backends[i].flavor === "simd128";
    for (const [buf, kind] of [[out, "simd"], [ref, "scalar"]] as const) {
      const got = f32s(rig, buf, i);
      for (let j = 0; j < want.length; j++) {
        if (Object.is(got[j], want[j])) continue;
        const err = Math.abs(got[j] - want[j]);
        if (exact || kind === "scalar" || !(err <= rel * scaleOf(j))) {
          throw new Error(
            `${what}: ${kind} output of ${rig.labels[i]} element ${j}: ${got[j]} vs twin ${want[j]} ` +
              `(|err| ${err}, bound ${exact || kind === "scalar" ? 0 : rel * scaleOf(j)})`,
          );
        }
      }
    }
  }
}

Deno.test("fast.gemm.tq2_0x2_q8_k and fast.repack.tq2_0x2 equal their scalar twins on every shape", async (t) => {
  using rig = await Rig.standard();
  const r = rng(77);
  const run = (nOut: number, k: number, nTok: number) => {
    const w = rig.alloc(nOut * k / 256 * 66, tq2Rows(r, nOut, k));
    const w2 = rig.alloc(nOut * k / 256 * 66, rig.read(w, 0));
    rig.run("fast.repack.tq2_0x2", [w, nOut, k]);
    rig.run("fast.repack.tq2_0x2", [w2, nOut, k], true);
    assertSameBytes(rig, w, w2, `fast.repack.tq2_0x2 n_out=${nOut} K=${k}`);
    const xf = rig.alloc(4 * nTok * k, activations(r, nTok, k));
    const xq = rig.alloc(nTok * k / 256 * 292);
    rig.run("quantize.q8_k", [xf, xq, k, nTok]);
    const y = rig.alloc(4 * nOut * nTok), yRef = rig.alloc(4 * nOut * nTok);
    rig.runBoth("fast.gemm.tq2_0x2_q8_k", [w, xq], y, yRef, [nOut, k, nTok]);
    assertSameBytes(rig, y, yRef, `fast.gemm.tq2_0x2_q8_k n_out=${nOut} K=${k} n_tok=${nTok}`);
  };
  await t.step("small shapes: odd row counts, 1-9 tokens", () => {
    for (const k of [256, 512, 768]) {
      for (const nOut of [1, 2, 3, 13, 67]) {
        for (const nTok of [1, 2, 3, 4, 5, 9]) run(nOut, k, nTok);
      }
    }
  });
  await t.step("many row chunks (1031 x 1024 GEMV, 131 x 1024 x 8) and several token groups (5 x 8192 x 260)", () => {
    run(1031, 1024, 1);
    run(131, 1024, 8);
    run(5, 8192, 260);
  });
  await t.step("the largest integer sums: every code 3 (a corrupt file), activations at -127 and +127", () => {
    for (const [nOut, nTok] of [[3, 1], [4, 4], [5, 9]]) {
      const { w, xq, k } = largestTernarySums(rig, nOut, nTok);
      rig.run("fast.repack.tq2_0x2", [w, nOut, k]);
      const y = rig.alloc(4 * nOut * nTok), yRef = rig.alloc(4 * nOut * nTok);
      rig.runBoth("fast.gemm.tq2_0x2_q8_k", [w, xq], y, yRef, [nOut, k, nTok]);
      assertSameBytes(rig, y, yRef, `fast.gemm.tq2_0x2_q8_k all codes 3 n_out=${nOut} n_tok=${nTok}`);
    }
  });
  await t.step("rejects K that is not a multiple of 256, naming the kernel", () => {
    const b = rig.backends[0];
    const p = b.alloc(4096);
    let msg = "";
    try {
      b.run("fast.gemm.tq2_0x2_q8_k", p, p, p, 1, 100, 1);
    } catch (e) {
      msg = String(e);
    }
    ok(/fast\.gemm\.tq2_0x2_q8_k: K = 100 is not a multiple of 256/.test(msg), msg);
  });
});

Deno.test("fast.repack.tq1_0_tq2_0x2 equals its scalar twin and rejects overlapping regions", async () => {
  using rig = await Rig.standard();
  const r = rng(5);
  for (const [nOut, k] of [[1, 256], [3, 512], [14, 768], [67, 256]]) {
    const src = new Uint8Array(nOut * k / 256 * 54).map(() => Math.floor(r() * 256));
    const s = rig.alloc(src.length, src);
    const d = rig.alloc(nOut * k / 256 * 66), dRef = rig.alloc(nOut * k / 256 * 66);
    rig.runBoth("fast.repack.tq1_0_tq2_0x2", [s], d, dRef, [nOut, k]);
    // runBoth passes the output as the second argument: (src, dst, n_out, K).
    assertSameBytes(rig, d, dRef, `fast.repack.tq1_0_tq2_0x2 n_out=${nOut} K=${k}`);
  }
  const b = rig.backends[0];
  const p = b.alloc(66 * 4);
  let msg = "";
  try {
    b.run("fast.repack.tq1_0_tq2_0x2", p, p + 20, 1, 256);
  } catch (e) {
    msg = String(e);
  }
  ok(/src and dst overlap/.test(msg), msg);
});

Deno.test("fast.gemm.f16_f32 and fast.gemm.bf16_f32 equal their twins (relaxed: within the tolerance)", async () => {
  using rig = await Rig.standard();
  const r = rng(99);
  for (const f16 of [true, false]) {
    const id = f16 ? "fast.gemm.f16_f32" : "fast.gemm.bf16_f32";
    for (const k of [1, 7, 31, 32, 33, 64, 100, 2560]) {
      for (const [nOut, nTok] of [[1, 1], [5, 3], [13, 1], [67, 2]]) {
        const wf = Float32Array.from({ length: nOut * k }, () => gauss(r) * 0.05);
        const w16 = f16
          ? Uint16Array.from({ length: nOut * k }, () => randomF16(r, 0.05))
          : Uint16Array.from(new Uint32Array(wf.buffer), (u) => u >>> 16);
        const x = activations(r, nTok, k);
        if (nTok > 1) x[k + (k >> 1)] = 3e4; // max|x| >= 2^13: the F16 path scales by less than 2^112
        const wv = (i: number) => {
          const h = w16[i];
          if (!f16) return new Float32Array(new Uint32Array([h << 16]).buffer)[0];
          const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
          return s * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
        };
        const scale = (j: number) => {
          const t = Math.floor(j / nOut), o = j % nOut;
          let s = 0;
          for (let i = 0; i < k; i++) s += Math.abs(wv(o * k + i) * x[t * k + i]);
          return s + 1e-30;
        };
        const wb = rig.alloc(2 * nOut * k, w16), xb = rig.alloc(4 * nTok * k, x);
        const y = rig.alloc(4 * nOut * nTok), yRef = rig.alloc(4 * nOut * nTok);
        rig.runBoth(id, [wb, xb], y, yRef, [nOut, k, nTok]);
        assertTwin(rig, y, yRef, `${id} n_out=${nOut} K=${k} n_tok=${nTok}`, TOLERANCES.fastDot.rel, scale);
      }
    }
  }
});

Deno.test("fast.attention equals its twin for every GQA grouping, head size and position", async () => {
  using rig = await Rig.standard();
  const r = rng(3);
  for (const [nh, nkv] of [[4, 1], [8, 2], [20, 5], [6, 6]]) {
    for (const hd of [12, 16, 64, 128]) {
      for (const [nTok, pos0] of [[1, 0], [1, 31], [1, 100], [3, 40], [2, 0]]) {
        const nCtx = 160;
        const q = rig.alloc(4 * nTok * nh * hd, Float32Array.from({ length: nTok * nh * hd }, () => gauss(r)));
        const kc = rig.alloc(4 * nCtx * nkv * hd, Float32Array.from({ length: nCtx * nkv * hd }, () => gauss(r)));
        const vals = Float32Array.from({ length: nCtx * nkv * hd }, () => gauss(r));
        const vc = rig.alloc(4 * nCtx * nkv * hd, vals);
        // The kernel table's size (kernel_table.ts): a score row per query head in decode.
        const scr = rig.alloc(4 * nCtx * Math.max(4 * 2, nh));
        const out = rig.alloc(4 * nTok * nh * hd), outRef = rig.alloc(4 * nTok * nh * hd);
        const args = [nTok, pos0, nh, nkv, hd, nCtx, 1 / Math.sqrt(hd)];
        rig.run("fast.attention", [q, kc, vc, out, scr, ...args]);
        rig.run("fast.attention", [q, kc, vc, outRef, scr, ...args], true);
        const what = `fast.attention n_head=${nh}/${nkv} head_dim=${hd} n_tok=${nTok} pos0=${pos0}`;
        // Outputs are convex combinations of V rows: bound the error by max|v|.
        const vmax = vals.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        assertTwin(rig, out, outRef, what, TOLERANCES.fastAttention.rel, () => vmax);
      }
    }
  }
});

Deno.test("fast.swiglu equals its twin (relaxed: within the tolerance) on tails and extremes", async () => {
  using rig = await Rig.standard();
  const r = rng(11);
  for (const n of [1, 3, 4, 9, 4099]) {
    const g = Float32Array.from(
      { length: n },
      (_, i) => i % 17 === 5 ? [100, -100, 0, -0, 88.5, -90][i % 6] : gauss(r) * 4,
    );
    const u = Float32Array.from({ length: n }, () => gauss(r));
    const gb = rig.alloc(4 * n, g), ub = rig.alloc(4 * n, u);
    const y = rig.alloc(4 * n), yRef = rig.alloc(4 * n);
    rig.runBoth("fast.swiglu", [gb, ub], y, yRef, [n]);
    const scale = (j: number) => Math.abs(g[j] * u[j]) + 1e-30;
    assertTwin(rig, y, yRef, `fast.swiglu n=${n}`, TOLERANCES.fastExp.rel, scale);
  }
});

Deno.test("probe.read adds the wrapping u32 sum of the bytes to out, on any thread count", async () => {
  using rig = await Rig.standard();
  const n = 64 * 3001;
  const data = new Uint8Array(n).map((_, i) => (i * 2654435761) >>> 24);
  let want = 7;
  for (const w of new Uint32Array(data.buffer)) want = (want + w) >>> 0;
  const x = rig.alloc(n, data);
  const out = rig.alloc(4, Uint32Array.of(7));
  rig.run("probe.read", [x, n, out]);
  for (let i = 0; i < rig.backends.length; i++) equal(new Uint32Array(rig.read(out, i).buffer)[0], want, rig.labels[i]);
});
