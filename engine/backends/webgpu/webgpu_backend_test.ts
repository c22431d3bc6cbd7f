/**
 * The WebGPU backend as a port implementation: write/read ordering and snapshots, unaligned writes, chunked arena
 * growth, adapter reporting, and every way the GPU can fail (closed backend, lost device, no adapter, a wait that
 * never ends) turning into an error that names its fix instead of a hang.
 */

import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { describeWebGpu, WebGpuDevice, WebGpuError, withTimeout } from "./device.ts";
import { WebGpuBackend } from "./webgpu_backend.ts";
import { testDevice } from "./_testing.ts";

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
const asF32 = (b: Uint8Array) => [...new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)];

Deno.test("describeWebGpu() names the adapter and its limits without creating a device", async () => {
  const r = await describeWebGpu();
  equal(r.available, true, r.reason);
  ok(r.label.length > 0);
  ok(r.limits && r.limits.maxStorageBufferBindingSize > 0 && r.limits.maxBufferSize > 0);
  if (/llvmpipe/.test(r.description)) {
    equal(r.isFallbackAdapter, true);
    match(r.label, /\[CPU fallback\]$/);
  }
  console.log(`adapter: ${r.label}; fused fma: ${(await testDevice()).probe.fusedFma}`);
});

Deno.test("the test process runs WebGPU on Vulkan and never loads libEGL (its exit-time double free)", async () => {
  // deno task test sets DENO_WEBGPU_BACKEND=vulkan: tests/_vulkan.ts says why EGL aborts the process at exit.
  await testDevice();
  equal(
    Deno.env.get("DENO_WEBGPU_BACKEND"),
    "vulkan",
    "DENO_WEBGPU_BACKEND is not vulkan: run the suite with deno task test, which sets it (tests/_vulkan.ts says why)",
  );
  if (Deno.build.os === "linux") {
    const egl = Deno.readTextFileSync("/proc/self/maps").split("\n").find((l) => /\/libEGL\.so/.test(l));
    equal(egl, undefined, "libEGL is mapped into the test process");
  }
});

Deno.test("reads return the bytes at their place in the queue; writes wait for queued kernels", async () => {
  using be = await WebGpuBackend.create({ device: await testDevice() });
  const x = be.alloc(8), y = be.alloc(8);
  be.write(x, f32(1, 2));
  be.run("add", x, x, y, 2);
  const first = be.read(y, 8);
  be.run("add", y, y, y, 2);
  const second = be.read(y, 8);
  be.write(y, f32(-1, -1)); // after both kernels
  deepEqual(asF32(await first), [2, 4]);
  deepEqual(asF32(await second), [4, 8]);
  deepEqual(asF32(await be.read(y, 8)), [-1, -1]);
  const into = new Uint8Array(16);
  equal((await be.read(x, 8, into)).length, 8);
  deepEqual(asF32(into.subarray(0, 8)), [1, 2]);
});

Deno.test("unaligned writes merge with their neighbours' bytes (tensors placed back to back)", async () => {
  using be = await WebGpuBackend.create({ device: await testDevice() });
  const a = be.alloc(7, 1), b = be.alloc(13, 1), c = be.alloc(3, 1);
  be.write(a, Uint8Array.from([1, 2, 3, 4, 5, 6, 7]));
  be.write(b, Uint8Array.from({ length: 13 }, (_, i) => 10 + i));
  be.write(c, Uint8Array.from([30, 31, 32]));
  be.write(b + 5, Uint8Array.from([99]));
  const all = await be.read(a, 23);
  deepEqual([...all], [1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 99, 16, 17, 18, 19, 20, 21, 22, 30, 31, 32]);
});

Deno.test("an allocation after first use grows its chunk and keeps the contents; chunks stay separate", async () => {
  using be = await WebGpuBackend.create({ device: await testDevice(), chunkBytes: 4096 });
  const x = be.alloc(1024);
  be.write(x, f32(...Array.from({ length: 256 }, (_, i) => i)));
  await be.read(x, 4);
  const y = be.alloc(2048), z = be.alloc(2048); // y grows chunk 0, z opens chunk 1
  be.run("copy", x, z, 1024);
  be.run("add", x, z, y, 256);
  const out = asF32(await be.read(y, 1024));
  deepEqual(out, Array.from({ length: 256 }, (_, i) => 2 * i));
  deepEqual(asF32(await be.read(x, 1024)), Array.from({ length: 256 }, (_, i) => i));
});

Deno.test("a closed backend refuses work with a WebGpuError naming the fix", async () => {
  const be = await WebGpuBackend.create({ device: await testDevice() });
  const x = be.alloc(4);
  be.close();
  be.close();
  // The shared device stays open for other backends.
  equal((await testDevice()).closed, false);
  const own = await WebGpuBackend.create();
  own.close();
  throws(() => own.alloc(4), (e: unknown) => e instanceof WebGpuError && /closed\. Create a new one/.test(e.message));
  await rejects(() => own.read(x, 4), WebGpuError);
});

Deno.test("a lost device fails pending and later work instead of hanging", async () => {
  using be = await WebGpuBackend.create();
  const x = be.alloc(64);
  be.run("add", x, x, x, 16);
  const pending = be.read(x, 64);
  be.gpu.device.destroy();
  await rejects(pending, (e: unknown) => e instanceof WebGpuError || e instanceof Error);
  const err = await be.gpu.lost;
  match(err.message, /was lost \(destroyed/);
  throws(() => be.run("add", x, x, x, 16), /was lost/);
  throws(() => be.write(x, f32(1)), /was lost/);
});

Deno.test("withTimeout() turns a wait that never ends into an error with the fix", async () => {
  await rejects(
    withTimeout(new Promise(() => {}), 20, "a test wait", "Do something else."),
    (e: unknown) =>
      e instanceof WebGpuError && e.exitCode === 2 && /did not finish within 20 ms\. Do something/.test(e.message),
  );
});

// A real process without an adapter: wgpu has no D3D12 on Linux, so DENO_WEBGPU_BACKEND=dx12 finds none.
const linux = Deno.build.os === "linux";
if (!linux) {
  console.log("skipping the no-adapter test: it needs Linux (DENO_WEBGPU_BACKEND=dx12 finds no adapter there)");
}
Deno.test({
  name: "without an adapter, describe says so and opening fails with the fix (never a hang)",
  ignore: !linux,
  fn: async () => {
    const code = `
      import { describeWebGpu, WebGpuDevice } from ${JSON.stringify(new URL("./device.ts", import.meta.url).href)};
      const r = await describeWebGpu();
      let msg = "";
      try { await WebGpuDevice.open(); } catch (e) { msg = e.name + ": " + e.message; }
      console.log(JSON.stringify({ available: r.available, reason: r.reason, msg }));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env: { DENO_WEBGPU_BACKEND: "dx12" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(text.split("\n").at(-1)!);
    equal(r.available, false);
    match(r.reason, /found no adapter \(DENO_WEBGPU_BACKEND=dx12\).*--backend wasm/);
    match(r.msg, /^WebGpuError: Cannot use the WebGPU backend: .*unset DENO_WEBGPU_BACKEND/);
  },
});

Deno.test("WebGpuDevice.open() probes FMA fusion and dot4I8Packed", async () => {
  await using dev = await WebGpuDevice.open();
  equal(typeof dev.probe.fusedFma, "boolean");
  equal(dev.probe.dot4, dev.report.wgslFeatures.includes("packed_4x8_integer_dot_product"));
  // Mesa llvmpipe lowers WGSL fma to a multiply and an add (measured): the backend then emulates it.
  if (/llvmpipe/.test(dev.report.description)) equal(dev.probe.fusedFma, false);
});
