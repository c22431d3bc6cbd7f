/**
 * The loader and the worker pool: module choice and recorded variants, the arena (alignment, growth seen
 * by workers), errors from every thread, 10,000 dispatches, and a process that exits after close().
 */

import { equal, match, notEqual, ok, throws } from "node:assert/strict";
import { detectFeatures, KERNEL_IDS, KERNELS, WasmKernels } from "./mod.ts";

Deno.test("create() picks the module, records the variants that ran, and validates its options", async () => {
  const f = detectFeatures();
  ok(f.simd128 && f.threads, "this runtime must support SIMD128 and shared memory");
  {
    using k = await WasmKernels.create({ threads: 1, relaxed: false });
    equal(k.flavor, "simd128");
    equal(k.id, "wasm");
    const a = k.alloc(64), y = k.alloc(64);
    k.run("add", a, a, y, 4);
    k.run("gemm.f32_f32", a, a, y, 1, 4, 1);
    k.runScalar("add", a, a, y, 4);
    k.run("add", a, a, y, 4);
    equal(
      JSON.stringify(k.kernels()),
      JSON.stringify(["wasm.add.simd128", "wasm.gemm.f32_f32.simd128", "wasm.add.scalar"]),
    );
  }
  if (f.relaxedSimd) {
    using k = await WasmKernels.create({ threads: 1 });
    equal(k.flavor, "relaxed");
    const p = k.alloc(4096);
    k.run("gemm.tq2_0_q8_k", p, p, p, 1, 256, 1);
    k.run("gemm.f16_f16", p, p, p, 1, 8, 1);
    equal(JSON.stringify(k.kernels()), JSON.stringify(["wasm.gemm.tq2_0_q8_k.relaxed", "wasm.gemm.f16_f16.simd128"]));
  }
  await WasmKernels.create({ threads: 0 }).then(
    () => ok(false, "threads: 0 must be rejected"),
    (e) => match(String(e), /RangeError: Cannot create WasmKernels: threads = 0/),
  );
  // Every kernel of the table has an export and a scalar twin in both modules.
  for (const relaxed of [false, true]) {
    if (relaxed && !f.relaxedSimd) continue;
    const bytes = await Deno.readFile(new URL(relaxed ? "./kernels_relaxed.wasm" : "./kernels.wasm", import.meta.url));
    const names = new Set(WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name));
    for (const id of KERNEL_IDS) {
      ok(names.has(KERNELS[id].exportName) && names.has(`${KERNELS[id].exportName}__scalar`), `${id} exported`);
    }
  }
});

Deno.test("alloc() aligns, never returns 0, and grows memory that worker threads then use", async () => {
  using k = await WasmKernels.create({ threads: 2, initialBytes: 1 << 20 });
  const a = k.alloc(1), b = k.alloc(10, 4096), c = k.alloc(0);
  ok(a > 0 && a % 64 === 0 && b % 4096 === 0 && c % 64 === 0 && b >= a + 1);
  throws(() => k.alloc(-1), RangeError);
  throws(() => k.alloc(8, 3), RangeError);
  throws(() => k.alloc(5 * 2 ** 30), /past wasm32's 4 GiB/);
  const before = k.buffer.byteLength;
  // 64 MiB past the initial arena: the worker (thread 1) computes half of the rows from it.
  const n = 1 << 16, kk = 256;
  const w = k.alloc(4 * n * kk), x = k.alloc(4 * kk), y = k.alloc(4 * n);
  ok(k.buffer.byteLength >= before + 64 * 2 ** 20 - (4 << 20), `the arena grew (${before} -> ${k.buffer.byteLength})`);
  new Float32Array(k.buffer, w, n * kk).fill(0.5);
  new Float32Array(k.buffer, x, kk).fill(2);
  k.run("gemm.f32_f32", w, x, y, n, kk, 1);
  const out = new Float32Array(k.buffer, y, n);
  equal(out[0], 256);
  equal(out[n - 1], 256);
  ok(out.every((v) => v === 256));
});

Deno.test("kernel errors name the kernel, come from any thread, and leave the pool usable", async () => {
  using k = await WasmKernels.create({ threads: 2 });
  const p = k.alloc(1024);
  throws(() => k.run("add", p, p), /TypeError: Cannot run kernel add: got 2 arguments, expected 4/);
  throws(() => k.run("nope" as "add", p), /unknown id/);
  throws(
    () => k.run("quantize.q8_k", p, p, 100, 1),
    /RangeError: Kernel quantize\.q8_k failed on thread \d: .*K = 100 is not a multiple of 256/,
  );
  // Out-of-arena pointer: the argument check names it.
  throws(() => k.run("add", p, p, 2 ** 31, 16), /add: argument y = \[2147483648, 2147483712\) ends past the arena/);
  // Null pointer.
  throws(() => k.run("add", 0, p, p, 4), /add: argument a is offset 0/);
  // A cache larger than the arena fails on both threads; the error names the argument.
  throws(() => k.run("attention", p, p, p, p, p, 1, 0, 1, 1, 4, 10_000_000, 1), /attention: argument k = /);
  // A bad row id among many: whichever thread takes that chunk panics (worker or main); the message names
  // the kernel, and the failing thread's stack pointer is reset so the pool keeps working.
  const k16 = 256, nIds = 4096;
  const w = k.alloc(2 * k16 * 8), ids = k.alloc(4 * nIds), rows = k.alloc(4 * k16 * nIds);
  const idv = new Int32Array(k.buffer, ids, nIds).fill(1);
  idv[nIds - 1] = 2 ** 30;
  for (let rep = 0; rep < 20; rep++) {
    throws(() => k.run("get_rows.f16", w, ids, rows, k16, nIds), /get_rows\.f16: .*past the arena/);
  }
  idv[nIds - 1] = 7;
  k.run("get_rows.f16", w, ids, rows, k16, nIds);
  // Still works, on both threads.
  const n = 1 << 14;
  const a = k.alloc(4 * n), y = k.alloc(4 * n);
  new Float32Array(k.buffer, a, n).fill(1.25);
  k.run("add", a, a, y, n);
  ok(new Float32Array(k.buffer, y, n).every((v) => v === 2.5));
  k.close();
  throws(() => k.run("add", a, a, y, n), /closed/);
});

Deno.test("the pool survives 10,000 dispatches with correct results", async () => {
  using k = await WasmKernels.create({ threads: 2 });
  // Large enough (about 20 us of work) to be split across both threads rather than run inline.
  const n = 65536;
  const a = k.alloc(4 * n), b = k.alloc(4 * n), y = k.alloc(4 * n);
  const fa = new Float32Array(k.buffer, a, n), fy = new Float32Array(k.buffer, y, n);
  new Float32Array(k.buffer, b, n).fill(1);
  fa.fill(0);
  for (let i = 0; i < 10_000; i++) {
    k.run("add", i % 2 ? y : a, b, i % 2 ? a : y, n);
  }
  // Step i writes i + 1 into y (even i) or a (odd i): after 10,000 steps a = 10,000 and y = 9,999.
  equal(fa[0], 10_000);
  equal(fa[n - 1], 10_000);
  equal(fy[n >> 1], 9_999);
  notEqual(k.threads, 1);
});

Deno.test("a process using a 2-thread pool exits after close()", async () => {
  const script = `
    import { WasmKernels } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
    const k = await WasmKernels.create({ threads: 2 });
    const a = k.alloc(4 << 20);
    for (let i = 0; i < 100; i++) k.run("add", a, a, a, 1 << 20);
    k.close();
  `;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  });
  const t0 = performance.now();
  const r = await cmd.output();
  equal(r.code, 0, new TextDecoder().decode(r.stderr));
  ok(performance.now() - t0 < 30_000);
});
