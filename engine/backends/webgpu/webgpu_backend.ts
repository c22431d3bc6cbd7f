/**
 * {@link WebGpuBackend}: the kernel backend port (`engine/backends/backend.ts`) on WebGPU. The arena is a few GPU
 * storage buffers ({@link ChunkedArena}); `write` is `queue.writeBuffer`; `run` only encodes a dispatch into the
 * current command encoder (pipelines and bind groups are cached, each dispatch's parameters take one slot of a
 * uniform ring bound with a dynamic offset); `read` appends a copy into a staging buffer, submits, and maps it. A
 * forward pass is therefore one command buffer: token ids written, every kernel encoded, logits read back.
 *
 * Kernel semantics are those of the reference backend, bit for bit where WGSL allows it (`wgsl_math.ts`): integer
 * parts exact, divisions and square roots correctly rounded, FMA native when the adapter fuses it and emulated
 * exactly when not (llvmpipe), f64 sums as double-f32.
 *
 * Ordering: `write` submits what is pending before it writes, so host data never overtakes queued kernels; bytes of
 * a write that share a word with other data are merged on the GPU (a tiny dispatch), since GGUF tensors placed back
 * to back need not be word-aligned.
 *
 * @module
 */

import type { NumericsProfile } from "../type_kernels.ts";
import type { KernelBackend } from "../backend.ts";
import { checkKernelCall, type KernelId, type ScratchShape } from "../kernel_table.ts";
import { KernelRecorder } from "../recorder.ts";
import { type Chunk, ChunkedArena } from "./arena.ts";
import { WebGpuDevice, WebGpuError, type WebGpuOpenOptions, type WebGpuProbe, type WebGpuReport } from "./device.ts";
import type { DispatchPlan, GpuKernel, PlanContext } from "./kernel_plan.ts";
import { GPU_KERNELS } from "./kernels.ts";
import { attentionScratchBytes } from "./kernels_attention.ts";
import { bindings, entry } from "./kernels_ops.ts";
import { byteAccess, PARAM_SLOTS, SLOT, wgslMath, type WgslMathOptions } from "./wgsl_math.ts";

/** Options of {@link WebGpuBackend.create}. */
export interface WebGpuBackendOptions extends WebGpuOpenOptions {
  /** Use this device instead of opening one (the backend then leaves it open on close). */
  readonly device?: WebGpuDevice;
  /** FMA: `"auto"` (the probe decides, default), `"emulated"` (always the exact emulation). */
  readonly fma?: "auto" | "emulated";
  /** Use `dot4I8Packed` when the adapter has it (default true); false spells it out. */
  readonly dot4?: boolean;
  /** Largest arena chunk in bytes (default: the binding limit, at most 1 GiB). */
  readonly chunkBytes?: number;
  /** Dispatches per command buffer before an automatic submit (default 4096). */
  readonly paramSlots?: number;
  /**
   * Cap on one binding's size below the adapter's `maxStorageBufferBindingSize` (default none): a small cap makes
   * every large tensor take the split-dispatch and windowed-binding paths that big models take on small adapters.
   */
  readonly maxBindingBytes?: number;
}

/** Counters of a backend's GPU traffic. */
export interface WebGpuStats {
  /** Dispatches encoded. */
  readonly dispatches: number;
  /** Command buffers submitted. */
  readonly submits: number;
  /** Bytes written from the host. */
  readonly bytesWritten: number;
  /** Bytes read back. */
  readonly bytesRead: number;
  /** Pipelines compiled. */
  readonly pipelines: number;
}

interface Binding {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly size: number;
  readonly rel: number;
}

/** Writes the bytes of at most two partly covered words (values and masks in the parameter slots). */
const POKE: GpuKernel = {
  id: "copy",
  bindings: 1,
  source: () =>
    bindings([["y", "u32"]]) + byteAccess("y", true) + entry(1) + /* wgsl */ `
  for (var i = 0u; i < pu(10u); i++) { st32m_y((pu(0u) >> 2u) + pu(11u + 3u * i), pu(12u + 3u * i), pu(13u + 3u * i)); }
}`,
  plan: () => [],
};

const MAX_CHUNK = 1 << 30;

/**
 * The WebGPU kernel backend.
 *
 * @example
 * ```ts
 * import { WebGpuBackend } from "./webgpu_backend.ts";
 * using be = await WebGpuBackend.create();
 * const x = be.alloc(8), y = be.alloc(8);
 * be.write(x, new Uint8Array(Float32Array.of(1, 2).buffer));
 * be.run("add", x, x, y, 2);
 * console.log([...new Float32Array((await be.read(y, 8)).buffer)]); // [2, 4]
 * ```
 */
export class WebGpuBackend implements KernelBackend {
  /** Backend name. */
  readonly id = "webgpu";
  /** Kernels are not split on the host. */
  readonly threads = 1;
  /**
   * One kernel set, ggml's order in WGSL (native FMA where the adapter fuses): the engine runs `numerics: "fast"`
   * with it too; the `fast.*` kernel ids are the CPU backends' and are refused (`kernels_refused.ts`, ADR 0013).
   */
  readonly numerics: readonly NumericsProfile[] = ["exact"];
  /** Every launch, as `webgpu.<kernel id>[.<variant>]`. */
  readonly recorder: KernelRecorder = new KernelRecorder();
  /** The device (adapter report, probes). */
  readonly gpu: WebGpuDevice;
  /** The prelude options the kernels were built with. */
  readonly math: WgslMathOptions;
  readonly #device: GPUDevice;
  readonly #ownsDevice: boolean;
  readonly #arena: ChunkedArena;
  readonly #buffers: (GPUBuffer | undefined)[] = [];
  readonly #bufferIds = new WeakMap<GPUBuffer, number>();
  #nextBufferId = 1;
  readonly #maxBinding: number;
  readonly #bindAlign: number;
  readonly #ctx: PlanContext;
  readonly #storageLayouts: GPUBindGroupLayout[] = [];
  readonly #pipelineLayouts: GPUPipelineLayout[] = [];
  readonly #uniformLayout: GPUBindGroupLayout;
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  readonly #bindGroups = new Map<string, GPUBindGroup>();
  readonly #params: GPUBuffer;
  readonly #paramsHost: Uint32Array<ArrayBuffer>;
  readonly #paramsGroup: GPUBindGroup;
  readonly #slotStride: number;
  readonly #slotCount: number;
  #slot = 0;
  #encoder: GPUCommandEncoder | undefined;
  #pass: GPUComputePassEncoder | undefined;
  #retired: GPUBuffer[] = [];
  readonly #staging: { buffer: GPUBuffer; busy: boolean }[] = [];
  readonly #errorScopes: Promise<GPUError | null>[] = [];
  /** Reads whose copy waits in the current encoder. */
  readonly #onSubmit: (() => void)[] = [];
  #submitQueued = false;
  #stats = { dispatches: 0, submits: 0, bytesWritten: 0, bytesRead: 0, pipelines: 0 };
  #closed = false;

  private constructor(gpu: WebGpuDevice, owns: boolean, opts: WebGpuBackendOptions) {
    this.gpu = gpu;
    this.#device = gpu.device;
    this.#ownsDevice = owns;
    const limits = gpu.device.limits;
    this.math = {
      fusedFma: gpu.probe.fusedFma && opts.fma !== "emulated",
      dot4: gpu.probe.dot4 && opts.dot4 !== false,
    };
    this.#bindAlign = Math.max(4, limits.minStorageBufferOffsetAlignment);
    // A window's offset is aligned down and its size up: keep that slack below the binding limit.
    const binding = Math.min(limits.maxStorageBufferBindingSize, opts.maxBindingBytes ?? Infinity);
    this.#maxBinding = Math.floor(binding / this.#bindAlign) * this.#bindAlign;
    const chunk = Math.min(opts.chunkBytes ?? MAX_CHUNK, this.#maxBinding, limits.maxBufferSize);
    this.#arena = new ChunkedArena({
      chunkBytes: Math.floor(chunk / 256) * 256,
      maxAllocation: Math.floor(limits.maxBufferSize / 4) * 4,
    });
    this.#ctx = {
      maxRegionBytes: this.#maxBinding - 2 * this.#bindAlign,
      extentOf: (ptr) => this.#arena.extentOf(ptr),
    };
    this.#uniformLayout = this.#device.createBindGroupLayout({
      entries: [{
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: PARAM_SLOTS * 4 },
      }],
    });
    this.#slotStride = Math.max(PARAM_SLOTS * 4, limits.minUniformBufferOffsetAlignment);
    this.#slotCount = opts.paramSlots ?? 4096;
    this.#params = this.#device.createBuffer({
      size: this.#slotStride * this.#slotCount,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "webgpu params ring",
    });
    this.#paramsHost = new Uint32Array((this.#slotStride / 4) * this.#slotCount);
    this.#paramsGroup = this.#device.createBindGroup({
      layout: this.#uniformLayout,
      entries: [{ binding: 0, resource: { buffer: this.#params, offset: 0, size: PARAM_SLOTS * 4 } }],
    });
  }

  /**
   * Open a device (or use `opts.device`) and create the backend.
   *
   * @param opts Device options, FMA mode, chunk size.
   * @returns The backend; close it (or `using`) to release the device and buffers.
   * @throws {WebGpuError} Without an adapter, or when the device cannot be created.
   */
  static async create(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const gpu = opts.device ?? await WebGpuDevice.open(opts);
    return new WebGpuBackend(gpu, !opts.device, opts);
  }

  /** `WebGPU <adapter label>` (the label ends in `[CPU fallback]` on a software adapter). */
  get device(): string {
    return `WebGPU ${this.gpu.report.label}`;
  }

  /** The adapter (for receipts and labels). */
  get report(): WebGpuReport {
    return this.gpu.report;
  }

  /** Arithmetic probes of the device. */
  get probe(): WebGpuProbe {
    return this.gpu.probe;
  }

  /** Traffic counters. */
  get stats(): WebGpuStats {
    return { ...this.#stats };
  }

  /**
   * Bump-allocate zeroed arena bytes.
   *
   * @param bytes Size.
   * @param align Power-of-two alignment (at most 256), default 64.
   * @returns The pointer (never 0).
   * @throws {RangeError} Past the adapter's buffer limit or the 4 GiB pointer space.
   */
  alloc(bytes: number, align = 64): number {
    this.gpu.check("allocate in the webgpu arena");
    return this.#arena.alloc(bytes, align);
  }

  /**
   * Copy host bytes into the arena, after every kernel run so far.
   *
   * @param ptr Destination pointer.
   * @param data Bytes.
   * @throws {RangeError} When the region is outside the allocated arena.
   */
  write(ptr: number, data: Uint8Array): void {
    this.gpu.check("write to the webgpu arena");
    // writeBuffer takes ArrayBuffer-backed views only.
    const bytes = data.buffer instanceof ArrayBuffer ? data as Uint8Array<ArrayBuffer> : data.slice();
    const n = bytes.length;
    if (n === 0) return;
    const b = this.#bufferAt(ptr, n, "write");
    if (this.#encoder) this.#submit();
    const rel = b.rel + b.offset;
    const a0 = Math.min(rel + n, Math.ceil(rel / 4) * 4), a1 = Math.max(a0, Math.floor((rel + n) / 4) * 4);
    if (a1 > a0) this.#device.queue.writeBuffer(b.buffer, a0, bytes, a0 - rel, a1 - a0);
    // The partly covered first and last words: merged on the GPU, after the writeBuffer above.
    const poke = (from: number, to: number): void => {
      if (to <= from) return;
      const wb = Math.floor(from / 4) * 4;
      let v = 0, mask = 0;
      for (let a = from; a < to; a++) {
        v |= bytes[a - rel] << (8 * (a % 4));
        mask |= 0xff << (8 * (a % 4));
      }
      const offset = Math.floor(wb / this.#bindAlign) * this.#bindAlign;
      const size = Math.min(b.buffer.size - offset, Math.ceil((wb + 4 - offset) / 4) * 4);
      this.#dispatch(POKE, "", { regions: [], args: [1, 0, v >>> 0, mask >>> 0], groups: 1, variant: "" }, [
        { buffer: b.buffer, offset, size, rel: wb - offset },
      ]);
    };
    poke(rel, a0);
    if (a1 < rel + n) poke(Math.max(a0, a1), rel + n);
    this.#stats.bytesWritten += n;
  }

  /**
   * Encode kernel `id` (it runs when the queue is next submitted: on `read`, `write` or {@link finish}).
   *
   * @param id Kernel id.
   * @param args The kernel table's parameters.
   * @throws {RangeError} For an unknown kernel, a wrong argument count, a broken precondition or a region outside the
   *   arena (the message names the argument).
   */
  run(id: KernelId, ...args: number[]): void {
    this.gpu.check(`run kernel ${id}`);
    checkKernelCall("webgpu", id, args);
    const k = GPU_KERNELS[id];
    const plans = k.plan(args, this.#ctx);
    this.recorder.record(plans.length && plans[0].variant ? `webgpu.${id}.${plans[0].variant}` : `webgpu.${id}`);
    for (const p of plans) this.#dispatch(k, p.variant, p, undefined);
  }

  /**
   * Wait for every kernel run so far and copy `bytes` arena bytes at `ptr` to the host.
   *
   * @param ptr Pointer.
   * @param bytes Byte count.
   * @param into Destination to reuse (at least `bytes` long).
   * @returns The bytes.
   * @throws {WebGpuError} When the device is lost, reports an error, or the work does not finish in time.
   */
  async read(ptr: number, bytes: number, into?: Uint8Array): Promise<Uint8Array> {
    this.gpu.check("read from the webgpu arena");
    const out = into ? into.subarray(0, bytes) : new Uint8Array(bytes);
    if (bytes === 0) return out;
    const b = this.#bufferAt(ptr, bytes, "read");
    const rel = b.rel + b.offset, a0 = Math.floor(rel / 4) * 4, size = Math.ceil((rel + bytes) / 4) * 4 - a0;
    const staging = this.#takeStaging(size);
    this.#endPass();
    this.#encoderOrNew().copyBufferToBuffer(b.buffer, a0, staging.buffer, 0, size);
    // Submit after the caller's synchronous code: reads issued back to back (a forward pass's hooked tensors) then
    // share one submit and one wait, each copy still at its place in the queue.
    const submitted = new Promise<void>((resolve) => this.#onSubmit.push(resolve));
    if (!this.#submitQueued) {
      this.#submitQueued = true;
      queueMicrotask(() => {
        this.#submitQueued = false;
        if (!this.#closed) this.#submit();
      });
    }
    await submitted;
    try {
      await this.gpu.wait(staging.buffer.mapAsync(GPUMapMode.READ, 0, size), `reading ${bytes} bytes`);
      out.set(new Uint8Array(staging.buffer.getMappedRange(0, size), rel - a0, bytes));
      staging.buffer.unmap();
    } finally {
      staging.busy = false;
    }
    await this.#checkScopes();
    this.#stats.bytesRead += bytes;
    return out;
  }

  /**
   * Submit pending work and wait until the GPU has finished it (for timing).
   *
   * @throws {WebGpuError} On device loss, an error, or a timeout.
   */
  async finish(): Promise<void> {
    this.gpu.check("finish webgpu work");
    this.#submit();
    await this.gpu.wait(this.#device.queue.onSubmittedWorkDone(), "waiting for submitted work");
    await this.#checkScopes();
  }

  /**
   * Scratch bytes a kernel needs here (`attention`: one row of `n_ctx` f32 per workgroup).
   *
   * @param id Kernel id.
   * @param shape Largest sizes passed.
   * @returns Bytes.
   */
  scratchBytes(id: KernelId, shape: ScratchShape): number {
    return id === "attention" ? attentionScratchBytes(shape.nCtx) : 0;
  }

  /** Recorded kernel ids in first-run order. */
  kernels(): string[] {
    return this.recorder.ids();
  }

  /**
   * Compile every kernel variant now (normally each compiles on first use) and report the compiler's messages.
   *
   * @returns `"<id>.<variant>: <message>"` for every error or warning.
   */
  async compileAll(): Promise<string[]> {
    const out: string[] = [];
    const variants: Record<string, readonly string[]> = {
      copy: ["words", "bytes"],
      "gemm.f16_f16": ["vec", "tiny"],
      "gemm.f32_f32": ["vec", "tiny"],
      "gemm.bf16_bf16": ["vec", "tiny"],
    };
    for (const k of [...Object.values(GPU_KERNELS), POKE]) {
      for (const v of variants[k.id] && k !== POKE ? variants[k.id] : [""]) {
        const module = this.#device.createShaderModule({ code: wgslMath(this.math) + k.source(v, this.math) });
        for (const m of (await module.getCompilationInfo()).messages) {
          out.push(`${k.id}${v ? "." + v : ""}: ${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`);
        }
        this.#pipeline(k, v);
      }
    }
    await this.#checkScopes();
    return out;
  }

  /** Release every buffer, and the device when the backend opened it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsDevice) {
      this.gpu.close();
      return;
    }
    this.#encoder = this.#pass = undefined;
    for (const b of [...this.#buffers, ...this.#retired, this.#params, ...this.#staging.map((s) => s.buffer)]) {
      b?.destroy();
    }
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  // -------------------------------------------------------------------------------------------------------------

  /** The GPU buffer of the chunk holding `[ptr, ptr + bytes)`, grown to the chunk's size if needed. */
  #bufferAt(ptr: number, bytes: number, what: string): Binding {
    let loc;
    try {
      loc = this.#arena.locate(ptr, bytes);
    } catch (e) {
      throw new RangeError(`Cannot ${what} ${bytes} bytes at ${ptr} on the webgpu backend: ${(e as Error).message}`);
    }
    const buffer = this.#chunkBuffer(loc.chunk);
    return { buffer, offset: 0, size: buffer.size, rel: loc.offset };
  }

  #chunkBuffer(c: Chunk): GPUBuffer {
    const have = this.#buffers[c.index];
    const need = Math.max(256, Math.ceil(c.top / 4) * 4);
    if (have && have.size >= need) return have;
    const sealed = c.capacity === c.top;
    const size = sealed ? need : Math.min(Math.ceil(c.capacity / 4) * 4, Math.max(need, 2 * (have?.size ?? 0)));
    const buffer = this.#device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: `webgpu arena chunk ${c.index}`,
    });
    this.#bufferIds.set(buffer, this.#nextBufferId++);
    if (have) {
      // Grown after use: carry the old contents over, in queue order, and retire the old buffer.
      this.#endPass();
      this.#encoderOrNew().copyBufferToBuffer(have, 0, buffer, 0, have.size);
      this.#retired.push(have);
      this.#bindGroups.clear();
    }
    this.#buffers[c.index] = buffer;
    return buffer;
  }

  /** Bind a region: the whole chunk when it fits one binding, else an aligned window around the region. */
  #bind(ptr: number, bytes: number, id: KernelId, index: number): Binding {
    let loc;
    try {
      loc = this.#arena.locate(ptr, bytes);
    } catch (e) {
      throw new RangeError(
        `Cannot run kernel ${id} on the webgpu backend: its region ${index} (${bytes} bytes at ${ptr}): ` +
          `${(e as Error).message}. Pass pointers returned by alloc and sizes inside them.`,
      );
    }
    const buffer = this.#chunkBuffer(loc.chunk);
    if (buffer.size <= this.#maxBinding) return { buffer, offset: 0, size: buffer.size, rel: loc.offset };
    const offset = Math.floor(loc.offset / this.#bindAlign) * this.#bindAlign;
    const size = Math.min(buffer.size - offset, Math.max(4, Math.ceil((loc.offset + bytes - offset) / 4) * 4));
    return { buffer, offset, size, rel: loc.offset - offset };
  }

  #pipeline(k: GpuKernel, variant: string): GPUComputePipeline {
    const key = `${k.id}|${variant}|${k === POKE ? "poke" : ""}`;
    let p = this.#pipelines.get(key);
    if (p) return p;
    const n = k.bindings;
    if (!this.#storageLayouts[n]) {
      this.#storageLayouts[n] = this.#device.createBindGroupLayout({
        entries: Array.from({ length: n }, (_, i) => ({
          binding: i,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: "storage" as const },
        })),
      });
      this.#pipelineLayouts[n] = this.#device.createPipelineLayout({
        bindGroupLayouts: [this.#storageLayouts[n], this.#uniformLayout],
      });
    }
    this.#device.pushErrorScope("validation");
    const module = this.#device.createShaderModule({
      code: wgslMath(this.math) + k.source(variant, this.math),
      label: `webgpu ${k.id}${variant ? "." + variant : ""}`,
    });
    p = this.#device.createComputePipeline({
      layout: this.#pipelineLayouts[n],
      compute: { module, entryPoint: "main" },
      label: `webgpu ${k.id}${variant ? "." + variant : ""}`,
    });
    this.#errorScopes.push(this.#device.popErrorScope());
    this.#pipelines.set(key, p);
    this.#stats.pipelines++;
    return p;
  }

  #dispatch(k: GpuKernel, variant: string, plan: DispatchPlan, preset: Binding[] | undefined): void {
    const binds = preset ?? plan.regions.map((r, i) => this.#bind(r.ptr, r.bytes, k.id, i));
    const pipeline = this.#pipeline(k, variant);
    if (this.#slot === this.#slotCount) this.#submit();
    const group = this.#bindGroup(k.bindings, binds);
    const base = this.#slot * (this.#slotStride / 4);
    const host = this.#paramsHost;
    host.fill(0, base, base + PARAM_SLOTS);
    for (let i = 0; i < binds.length; i++) host[base + SLOT.region + i] = binds[i].rel;
    host[base + SLOT.groups] = plan.groups;
    for (let i = 0; i < plan.args.length; i++) host[base + SLOT.args + i] = plan.args[i];
    const maxDim = this.#device.limits.maxComputeWorkgroupsPerDimension;
    const x = Math.min(plan.groups, maxDim), z = Math.ceil(plan.groups / maxDim);
    const pass = this.#passOrNew();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.setBindGroup(1, this.#paramsGroup, [this.#slot * this.#slotStride]);
    pass.dispatchWorkgroups(x, plan.groupsY ?? 1, z);
    this.#slot++;
    this.#stats.dispatches++;
  }

  #bindGroup(n: number, binds: readonly Binding[]): GPUBindGroup {
    let key = `${n}`;
    for (const b of binds) key += `|${this.#bufferIds.get(b.buffer)}:${b.offset}:${b.size}`;
    let g = this.#bindGroups.get(key);
    if (!g) {
      g = this.#device.createBindGroup({
        layout: this.#storageLayouts[n],
        entries: binds.map((b, i) => ({ binding: i, resource: { buffer: b.buffer, offset: b.offset, size: b.size } })),
      });
      this.#bindGroups.set(key, g);
    }
    return g;
  }

  #encoderOrNew(): GPUCommandEncoder {
    this.#encoder ??= this.#device.createCommandEncoder({ label: "webgpu forward" });
    return this.#encoder;
  }

  #passOrNew(): GPUComputePassEncoder {
    this.#pass ??= this.#encoderOrNew().beginComputePass();
    return this.#pass;
  }

  #endPass(): void {
    this.#pass?.end();
    this.#pass = undefined;
  }

  /** Upload the used parameter slots and submit the encoder. */
  #submit(): void {
    if (!this.#encoder) return;
    this.#endPass();
    if (this.#slot > 0) {
      this.#device.queue.writeBuffer(this.#params, 0, this.#paramsHost, 0, this.#slot * (this.#slotStride / 4));
    }
    this.#device.queue.submit([this.#encoder.finish()]);
    this.#encoder = undefined;
    this.#slot = 0;
    this.#stats.submits++;
    for (const resolve of this.#onSubmit.splice(0)) resolve();
    // Destroying a buffer waits for the submitted work that uses it.
    for (const b of this.#retired) b.destroy();
    this.#retired = [];
  }

  #takeStaging(size: number): { buffer: GPUBuffer; busy: boolean } {
    let s = this.#staging.find((x) => !x.busy && x.buffer.size >= size);
    if (!s) {
      const buffer = this.#device.createBuffer({
        size: Math.max(4096, 2 ** Math.ceil(Math.log2(size))),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: "webgpu staging",
      });
      s = { buffer, busy: false };
      this.#staging.push(s);
    }
    s.busy = true;
    return s;
  }

  async #checkScopes(): Promise<void> {
    if (!this.#errorScopes.length) return;
    const errors = await Promise.all(this.#errorScopes.splice(0));
    const e = errors.find((x) => x);
    if (e) {
      throw new WebGpuError(
        `WebGPU rejected a kernel pipeline on "${this.report.label}": ${e.message}. The adapter lacks something the ` +
          `WGSL needs: report it with the adapter name, and use --backend wasm meanwhile.`,
      );
    }
  }
}
