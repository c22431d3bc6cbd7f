/**
 * The kernels added for the engine's second architecture family: `rope.norm` (NORMAL RoPE pairing, `llama`) and
 * `copy` (in-arena moves). Each SIMD export equals its scalar twin byte for byte, on 1 and 2 threads, in both
 * modules; their values against the reference backend are checked in engine/backends/wasm_exact_test.ts.
 */

import { deepEqual, equal } from "node:assert/strict";
import { assertSameBytes, gauss, Rig, rng } from "./_testing.ts";

Deno.test("rope.norm: SIMD export == scalar twin on every module and thread count, dims past n_rot untouched", async () => {
  using rig = await Rig.standard();
  const r = rng(7);
  for (const [nTok, nHead, hd, nRot] of [[1, 8, 256, 256], [3, 4, 64, 64], [5, 2, 10, 6], [2, 3, 64, 32]]) {
    const x = Float32Array.from({ length: nTok * nHead * hd }, () => gauss(r));
    const cs = Float32Array.from({ length: nTok * nRot }, () => gauss(r));
    const a = rig.alloc(x.byteLength, x), b = rig.alloc(x.byteLength, x), c = rig.alloc(cs.byteLength, cs);
    rig.run("rope.norm", [a, c, nTok, nHead, hd, nRot]);
    rig.run("rope.norm", [b, c, nTok, nHead, hd, nRot], true);
    assertSameBytes(rig, a, b, `rope.norm ${nTok}x${nHead}x${hd}/${nRot}`);
    for (let i = 0; i < rig.backends.length; i++) {
      const got = new Float32Array(rig.read(a, i).buffer);
      for (let e = 0; e < got.length; e++) if (e % hd >= nRot) equal(got[e], x[e], `element ${e} past n_rot`);
    }
  }
});

Deno.test("copy: SIMD export == scalar twin == the source bytes; overlapping regions are refused", async () => {
  using rig = await Rig.standard();
  for (const n of [3, 16, 33, 70_000]) {
    const src = Uint8Array.from({ length: n }, (_, i) => (i * 13 + 5) & 255);
    const x = rig.alloc(n, src), y = rig.alloc(n), z = rig.alloc(n);
    rig.run("copy", [x, y, n]);
    rig.run("copy", [x, z, n], true);
    assertSameBytes(rig, y, z, `copy n=${n}`);
    deepEqual(rig.read(z, 0), src, `copy n=${n} moves the source bytes`);
  }
  const k = rig.backends[0], p = k.alloc(64);
  let threw = "";
  try {
    k.run("copy", p, p + 8, 32);
  } catch (e) {
    threw = String(e);
  }
  equal(/regions x = .* overlap/.test(threw), true, threw);
});
