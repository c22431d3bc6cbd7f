/**
 * The float building blocks that make the reference backend reproduce llama.cpp bit for bit: glibc's `sinf`/`cosf`
 * (checked against this machine's libm through FFI, on every RoPE angle of the shapes we run and on random
 * arguments), and ggml's AVX-512 `expf` approximation and reduction orders (checked for accuracy against f64).
 *
 * @module
 */

import assert from "node:assert/strict";
import { cosf, sinf } from "../model/sincosf.ts";
import { reduce16, tinyBlasDotF32, vecDotF32, vecDotF32Padded, vExpf, vSilu } from "./ggml_order.ts";
import { Prng } from "../sampling.ts";

const fr = Math.fround;

function libm() {
  try {
    return Deno.dlopen("libm.so.6", {
      cosf: { parameters: ["f32"], result: "f32" },
      sinf: { parameters: ["f32"], result: "f32" },
    });
  } catch (e) {
    throw new Error(
      `Cannot open the system libm (libm.so.6) to check sinf/cosf: ${(e as Error).message}. ` +
        `This check needs glibc on Linux, the platform llama.cpp's prebuilt CPU backend runs on here.`,
    );
  }
}

Deno.test("sinf/cosf are bit-identical to the system libm on RoPE angles and random arguments", () => {
  const lib = libm();
  let n = 0;
  const check = (x: number) => {
    x = fr(x);
    assert.equal(cosf(x), lib.symbols.cosf(x), `cosf(${x})`);
    assert.equal(sinf(x), lib.symbols.sinf(x), `sinf(${x})`);
    n++;
  };
  // Every angle of the RoPE tables we build: positions 0..4095, R in {32, 64, 128}, bases 10000 and 500000.
  for (const base of [10000, 500000]) {
    for (const r of [32, 64, 128]) {
      const scale = fr(Math.pow(base, fr(-2 / r)));
      for (let p = 0; p < 4096; p += 3) {
        let theta = fr(p);
        for (let j = 0; j < r / 2; j++, theta = fr(theta * scale)) check(theta);
      }
    }
  }
  const rng = new Prng(7);
  for (let i = 0; i < 20000; i++) check((rng.next() - 0.5) * 2 ** (rng.next() * 40 - 20));
  for (const x of [0, -0, 1e-30, 0.785, 0.786, 119.9, 120, 120.1, 1e6, 3e38, -3e38]) check(x);
  lib.close();
  assert.ok(n > 100000);
});

Deno.test("vExpf is ggml's expf approximation: within 3 ulp of e^x, 0 and inf at the extremes", () => {
  for (let x = -100; x <= 88; x += 0.01237) {
    const xf = fr(x), got = vExpf(xf), want = Math.exp(xf);
    const ulp = Math.max(2 ** -149, 2 ** (Math.floor(Math.log2(want)) - 23));
    assert.ok(Math.abs(got - want) <= 3 * ulp, `vExpf(${xf}) = ${got}, e^x = ${want}`);
  }
  assert.equal(vExpf(-Infinity), 0);
  assert.equal(vExpf(-200), 0);
  assert.equal(vExpf(200), Infinity);
  assert.equal(vExpf(0), 1);
  const x = fr(1.7);
  assert.ok(Math.abs(vSilu(x) - x / (1 + Math.exp(-x))) < 1e-6);
});

Deno.test("ggml reduction orders: reduce16 and the dot products agree with f64 sums to f32 rounding", () => {
  const rng = new Prng(3);
  const a = Float32Array.from({ length: 300 }, () => rng.next() * 2 - 1);
  const b = Float32Array.from({ length: 300 }, () => rng.next() * 2 - 1);
  const acc = new Float32Array(64);
  for (const n of [16, 37, 64, 200, 256, 300]) {
    let want = 0, abs = 0;
    for (let i = 0; i < n; i++) {
      want += a[i] * b[i];
      abs += Math.abs(a[i] * b[i]);
    }
    for (const f of [vecDotF32, vecDotF32Padded, tinyBlasDotF32]) {
      const got = f(n, a, 0, 1, b, 0, 1, acc);
      assert.ok(Math.abs(got - want) <= 1e-6 * abs, `${f.name}(${n}) = ${got}, want ${want}`);
    }
  }
  // Integers: every order gives the exact sum.
  assert.equal(reduce16(Float32Array.from({ length: 16 }, (_, i) => i + 1)), 136);
  // The padded forms treat the missing tail as zeros: equal to the unpadded result on a zero-extended input.
  const z = new Float32Array(64);
  z.set(a.subarray(0, 40));
  assert.equal(vecDotF32Padded(40, a, 0, 1, b, 0, 1, acc), vecDotF32(64, z, 0, 1, b, 0, 1, acc));
});
