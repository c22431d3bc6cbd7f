/**
 * Test helpers for the WebGPU backend: one shared device per test file (Mesa's lavapipe, Vulkan on llvmpipe, on
 * machines without a GPU), a rig that runs the same kernel call on the reference backend and on WebGPU with
 * identical inputs, seeded random data, and a runner for single WGSL expressions.
 *
 * @module
 */

import { RefBackend } from "../ref.ts";
import type { KernelId } from "../kernel_table.ts";
import { Prng } from "../../sampling.ts";
import { WebGpuDevice } from "./device.ts";
import { WebGpuBackend, type WebGpuBackendOptions } from "./webgpu_backend.ts";
import { wgslMath, type WgslMathOptions } from "./wgsl_math.ts";

let shared: Promise<WebGpuDevice> | undefined;

/**
 * The device of this test process (opened once). Fails, naming the fix, when there is no adapter at all: these
 * tests need only Mesa's lavapipe, not a GPU.
 */
export function testDevice(): Promise<WebGpuDevice> {
  shared ??= WebGpuDevice.open({ timeoutMs: 60_000 }).then((dev) => {
    // Destroy the device when the test file ends, instead of leaving the driver's threads to the process exit.
    globalThis.addEventListener("unload", () => dev.close(), { once: true });
    return dev;
  }, (e) => {
    throw new Error(
      `The WebGPU tests need a Vulkan adapter; Mesa's lavapipe is enough (Debian/Ubuntu, as root: apt-get install ` +
        `mesa-vulkan-drivers libvulkan1; tests/setup.ts installs it), and run them with deno task test, which sets ` +
        `DENO_WEBGPU_BACKEND=vulkan. ` +
        (e as Error).message,
    );
  });
  return shared;
}

/** Uniform floats and Gaussian samples from a seed. */
export class Rand {
  readonly #p: Prng;
  /** Seeded generator. */
  constructor(seed: number) {
    this.#p = new Prng(seed);
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.#p.next();
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#p.next() * n);
  }
  /** Standard normal (Box-Muller). */
  gauss(): number {
    const u = Math.max(this.#p.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.#p.next());
  }
  /** `n` f32 values `scale * N(0, 1)`. */
  floats(n: number, scale = 1): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = scale * this.gauss();
    return a;
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const a = new Uint8Array(n);
    for (let i = 0; i < n; i++) a[i] = this.int(256);
    return a;
  }
}

/** A buffer allocated at the same size on both backends of a {@link Twin}. */
export interface TwinBuf {
  readonly ref: number;
  readonly gpu: number;
  readonly bytes: number;
}

/** A kernel argument: a buffer (its pointer is substituted per backend) or a number. */
export type TwinArg = TwinBuf | number;

/** The reference backend and a WebGPU backend, fed the same inputs. */
export class Twin implements Disposable {
  /** The reference backend. */
  readonly ref: RefBackend;
  /** The WebGPU backend. */
  readonly gpu: WebGpuBackend;

  private constructor(ref: RefBackend, gpu: WebGpuBackend) {
    this.ref = ref;
    this.gpu = gpu;
  }

  /** A twin on the shared test device. */
  static async create(opts: Omit<WebGpuBackendOptions, "device"> = {}): Promise<Twin> {
    const gpu = await WebGpuBackend.create({ ...opts, device: await testDevice() });
    return new Twin(RefBackend.create(), gpu);
  }

  /** Allocate on both (optionally with an alignment, and bytes written to both). */
  alloc(bytes: number, init?: Uint8Array | Float32Array | Int32Array, align = 64): TwinBuf {
    const b = { ref: this.ref.alloc(bytes, align), gpu: this.gpu.alloc(bytes, align), bytes };
    if (init) this.write(b, init);
    return b;
  }

  /** Write the same bytes to both. */
  write(b: TwinBuf, data: Uint8Array | Float32Array | Int32Array, at = 0): void {
    const u8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.ref.write(b.ref + at, u8);
    this.gpu.write(b.gpu + at, u8);
  }

  /** Run the same call on both. */
  run(id: KernelId, ...args: TwinArg[]): void {
    this.ref.run(id, ...args.map((a) => typeof a === "number" ? a : a.ref));
    this.gpu.run(id, ...args.map((a) => typeof a === "number" ? a : a.gpu));
  }

  /** Read `bytes` (default all) of a buffer from both. */
  async read(b: TwinBuf, bytes = b.bytes, at = 0): Promise<{ ref: Uint8Array; gpu: Uint8Array }> {
    return { ref: await this.ref.read(b.ref + at, bytes), gpu: await this.gpu.read(b.gpu + at, bytes) };
  }

  /** Read as f32 from both. */
  async readF32(b: TwinBuf, n = b.bytes / 4): Promise<{ ref: Float32Array; gpu: Float32Array }> {
    const r = await this.read(b, 4 * n);
    return { ref: new Float32Array(r.ref.buffer, r.ref.byteOffset, n), gpu: new Float32Array(r.gpu.buffer, 0, n) };
  }

  /** Close both (the shared device stays open). */
  [Symbol.dispose](): void {
    this.ref.close();
    this.gpu.close();
  }
}

/** Distance in units in the last place between two f32 (0 for identical bits; +-0 count as equal). */
export function ulps(a: number, b: number): number {
  if (Object.is(a, b) || a === b) return 0;
  if (Number.isNaN(a) && Number.isNaN(b)) return 0;
  const f = new Float32Array([a, b]), u = new Int32Array(f.buffer);
  const ka = u[0] < 0 ? -(u[0] & 0x7fffffff) : u[0], kb = u[1] < 0 ? -(u[1] & 0x7fffffff) : u[1];
  return Math.abs(ka - kb);
}

/** Summary of an f32 comparison: bit-identical count, worst ulps, first differing index. */
export function compareF32(ref: Float32Array, gpu: Float32Array): { same: number; maxUlps: number; first: number } {
  let same = 0, maxUlps = 0, first = -1;
  for (let i = 0; i < ref.length; i++) {
    const d = ulps(ref[i], gpu[i]);
    if (d === 0) same++;
    else if (first < 0) first = i;
    if (d > maxUlps) maxUlps = d;
  }
  return { same, maxUlps, first };
}

/**
 * Evaluate a WGSL expression of `a`, `b`, `c` (u32 bit patterns `ua`, `ub`, `uc`; f32 views `a`, `b`, `c`) over
 * arrays, returning the u32 result of each element (`expr` must give a u32).
 */
export async function evalWgsl(
  dev: WebGpuDevice,
  math: WgslMathOptions,
  expr: string,
  inputs: readonly Uint32Array[],
): Promise<Uint32Array> {
  const d = dev.device, n = inputs[0].length;
  const code = wgslMath(math) + /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> ia: array<u32>;
@group(0) @binding(1) var<storage, read_write> ib: array<u32>;
@group(0) @binding(2) var<storage, read_write> ic: array<u32>;
@group(0) @binding(3) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x + id.y * 65535u * 64u;
  if (i >= pu(10u)) { return; }
  let ua = ia[i];
  let ub = ib[i];
  let uc = ic[i];
  let a = bitcast<f32>(ua);
  let b = bitcast<f32>(ub);
  let c = bitcast<f32>(uc);
  o[i] = ${expr};
}`;
  d.pushErrorScope("validation");
  const module = d.createShaderModule({ code });
  const pipeline = d.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  const err = await d.popErrorScope();
  if (err) throw new Error(`evalWgsl: ${err.message}`);
  const mk = (data: Uint32Array) => {
    const b = d.createBuffer({ size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    d.queue.writeBuffer(b, 0, data as Uint32Array<ArrayBuffer>);
    return b;
  };
  const bufs = [0, 1, 2].map((i) => mk(inputs[i] ?? new Uint32Array(n)));
  const out = d.createBuffer({ size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const params = d.createBuffer({ size: 128, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const p = new Uint32Array(32);
  p[10] = n;
  d.queue.writeBuffer(params, 0, p);
  const read = d.createBuffer({ size: 4 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = d.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(
    0,
    d.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [...bufs, out].map((buffer, i) => ({ binding: i, resource: { buffer } })),
    }),
  );
  pass.setBindGroup(
    1,
    d.createBindGroup({
      layout: pipeline.getBindGroupLayout(1),
      entries: [{ binding: 0, resource: { buffer: params } }],
    }),
  );
  const groups = Math.ceil(n / 64);
  pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
  pass.end();
  enc.copyBufferToBuffer(out, 0, read, 0, 4 * n);
  d.queue.submit([enc.finish()]);
  await dev.wait(read.mapAsync(GPUMapMode.READ), "evalWgsl");
  const r = new Uint32Array(read.getMappedRange().slice(0));
  read.unmap();
  for (const b of [...bufs, out, params, read]) b.destroy();
  return r;
}
