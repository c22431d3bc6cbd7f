/**
 * WebGPU adapter discovery and the device the backend runs on: what adapter there is (for `--version`, receipts and
 * benchmark labels) without creating a device, and a {@link WebGpuDevice} that turns every way a GPU can fail — no
 * `navigator.gpu`, no adapter, a lost device, an uncaptured validation error, work that never finishes — into an
 * error that names the fix, never a hang.
 *
 * Deno 2.x exposes `navigator.gpu` without a flag (2.9.6 measured; the old `--unstable-webgpu` flag is still
 * accepted and does nothing more). On machines without a GPU, wgpu offers Mesa's llvmpipe (a CPU rasteriser) through
 * its GL backend as a fallback adapter: correct, slow, and labelled "CPU fallback" in every report.
 *
 * @module
 */

import { byteAccess, wgslMath } from "./wgsl_math.ts";

/** Limits the backend relies on (read from the adapter, requested at their adapter maximum). */
export interface WebGpuLimits {
  /** Largest storage-buffer binding (the arena's chunk size is at most this). */
  readonly maxStorageBufferBindingSize: number;
  /** Largest buffer. */
  readonly maxBufferSize: number;
  /** Storage buffers one compute shader may bind. */
  readonly maxStorageBuffersPerShaderStage: number;
  /** Workgroups per grid dimension. */
  readonly maxComputeWorkgroupsPerDimension: number;
  /** Workgroup shared memory in bytes. */
  readonly maxComputeWorkgroupStorageSize: number;
  /** Invocations per workgroup. */
  readonly maxComputeInvocationsPerWorkgroup: number;
  /** Alignment of storage-buffer binding offsets. */
  readonly minStorageBufferOffsetAlignment: number;
  /** Alignment of dynamic uniform offsets. */
  readonly minUniformBufferOffsetAlignment: number;
}

/** What `navigator.gpu` offers on this machine. */
export interface WebGpuReport {
  /** An adapter was found. */
  readonly available: boolean;
  /** Why not, with the fix (when `available` is false). */
  readonly reason?: string;
  /** `GPUAdapterInfo.vendor` (a PCI id or a name, as the driver reports it). */
  readonly vendor: string;
  /** `GPUAdapterInfo.architecture`. */
  readonly architecture: string;
  /** `GPUAdapterInfo.device`. */
  readonly device: string;
  /** `GPUAdapterInfo.description`, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  readonly description: string;
  /** A software/CPU adapter (`isFallbackAdapter`, or a known CPU rasteriser by name). */
  readonly isFallbackAdapter: boolean;
  /** One line for labels: the description (or vendor/device), with ` [CPU fallback]` when it is one. */
  readonly label: string;
  /** The limits the backend uses (absent without an adapter). */
  readonly limits?: WebGpuLimits;
  /** WGSL language features the kernels can use. */
  readonly wgslFeatures: readonly string[];
}

/** Options of {@link describeWebGpu} and {@link WebGpuDevice.open}. */
export interface WebGpuOpenOptions {
  /** Milliseconds to wait for the adapter and the device (default 15000). */
  readonly timeoutMs?: number;
  /**
   * Milliseconds one wait on queued work (a read, `finish`) may take before it fails (default 300000: a 2B model's
   * 128-token prefill on a CPU rasteriser takes minutes, on a GPU milliseconds).
   */
  readonly workTimeoutMs?: number;
  /** `requestAdapter`'s power preference. */
  readonly powerPreference?: GPUPowerPreference;
}

/** A WebGPU failure of the environment (no adapter, lost device, hung queue): CLI exit code 2. */
export class WebGpuError extends Error {
  /** CLI exit code for environment errors. */
  readonly exitCode = 2;
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebGpuError";
  }
}

const NO_GPU_FIX = "Use --backend wasm (or ref), or run on a machine whose GPU driver exposes Vulkan, Metal or D3D12";
const CPU_RASTERISERS = /llvmpipe|lavapipe|swiftshader|softpipe|warp/i;
const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_WORK_TIMEOUT_MS = 300_000;

/**
 * Resolve `p` or fail after `ms` with a {@link WebGpuError} naming `what` and the fix.
 *
 * @param p The awaited work.
 * @param ms Milliseconds.
 * @param what What was waited for (for the message).
 * @param fix What the user can do.
 * @returns `p`'s value.
 * @throws {WebGpuError} On timeout.
 * @example
 * ```ts
 * import { withTimeout } from "./device.ts";
 * console.log(await withTimeout(Promise.resolve(1), 100, "a test", "none")); // 1
 * ```
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string, fix: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new WebGpuError(`WebGPU: ${what} did not finish within ${ms} ms. ${fix}`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function gpuOrReason(): GPU | string {
  const nav = globalThis.navigator as Navigator | undefined;
  if (!nav || !("gpu" in nav) || !nav.gpu) {
    return `this runtime has no navigator.gpu (Deno ${Deno.version.deno}; Deno 1.x needs --unstable-webgpu). ` +
      NO_GPU_FIX;
  }
  return nav.gpu;
}

async function requestAdapter(opts: WebGpuOpenOptions): Promise<GPUAdapter | string> {
  const gpu = gpuOrReason();
  if (typeof gpu === "string") return gpu;
  const ms = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const adapter = await withTimeout(
    gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined),
    ms,
    "navigator.gpu.requestAdapter()",
    NO_GPU_FIX,
  );
  if (!adapter) {
    let env: string | undefined;
    try {
      env = Deno.env.get("DENO_WEBGPU_BACKEND");
    } catch {
      env = undefined; // no env permission: the message just cannot name the variable
    }
    return `navigator.gpu.requestAdapter() found no adapter${env ? ` (DENO_WEBGPU_BACKEND=${env})` : ""}. ` +
      `${NO_GPU_FIX}${env ? `, or unset DENO_WEBGPU_BACKEND` : ""}`;
  }
  return adapter;
}

function limitsOf(l: GPUSupportedLimits): WebGpuLimits {
  return {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
  };
}

function reportOf(adapter: GPUAdapter): WebGpuReport {
  const info = adapter.info;
  const fallback = Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter) ||
    CPU_RASTERISERS.test(info.description);
  const name = info.description || [info.vendor, info.architecture, info.device].filter((s) => s).join(" ") ||
    "unnamed adapter";
  const wgsl = (navigator.gpu as GPU & { wgslLanguageFeatures?: Set<string> }).wgslLanguageFeatures;
  return {
    available: true,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: fallback,
    label: fallback ? `${name} [CPU fallback]` : name,
    limits: limitsOf(adapter.limits),
    wgslFeatures: wgsl ? [...wgsl].sort() : [],
  };
}

/**
 * Describe the WebGPU adapter without creating a device (for `crossval --version`, receipts and bench labels).
 *
 * @param opts Timeout and power preference.
 * @returns The adapter's identity and limits, or `available: false` with the reason and its fix.
 * @example
 * ```ts
 * import { describeWebGpu } from "./device.ts";
 * const r = await describeWebGpu();
 * console.log(r.available ? r.label : r.reason);
 * ```
 */
export async function describeWebGpu(opts: WebGpuOpenOptions = {}): Promise<WebGpuReport> {
  let adapter: GPUAdapter | string;
  try {
    adapter = await requestAdapter(opts);
  } catch (e) {
    adapter = e instanceof Error ? e.message : String(e);
  }
  if (typeof adapter === "string") {
    return {
      available: false,
      reason: adapter,
      vendor: "",
      architecture: "",
      device: "",
      description: "",
      isFallbackAdapter: false,
      label: "no WebGPU adapter",
      wgslFeatures: [],
    };
  }
  return reportOf(adapter);
}

/** Results of the arithmetic probes run when a device opens. */
export interface WebGpuProbe {
  /** WGSL `fma` rounds once (a fused multiply-add) on this device. */
  readonly fusedFma: boolean;
  /** `dot4I8Packed` is available. */
  readonly dot4: boolean;
}

/**
 * A WebGPU device with its adapter report, arithmetic probes and failure tracking. Close it (or `using`) to
 * destroy the device and every buffer created on it.
 *
 * @example
 * ```ts
 * import { WebGpuDevice } from "./device.ts";
 * await using dev = await WebGpuDevice.open();
 * console.log(dev.report.label, dev.probe.fusedFma);
 * ```
 */
export class WebGpuDevice implements AsyncDisposable, Disposable {
  /** The device. */
  readonly device: GPUDevice;
  /** The adapter it came from. */
  readonly report: WebGpuReport;
  /** Arithmetic probes. */
  readonly probe: WebGpuProbe;
  /** Milliseconds a wait on queued work may take before it fails. */
  readonly timeoutMs: number;
  #failure: WebGpuError | undefined;
  #closed = false;
  readonly #lost: Promise<WebGpuError>;

  private constructor(device: GPUDevice, report: WebGpuReport, probe: WebGpuProbe, timeoutMs: number) {
    this.device = device;
    this.report = report;
    this.probe = probe;
    this.timeoutMs = timeoutMs;
    this.#lost = device.lost.then((info) => {
      const err = new WebGpuError(
        `WebGPU device "${report.label}" was lost (${info.reason}: ${info.message || "no message"}). ` +
          (this.#closed
            ? "The backend was closed: create a new one."
            : "The driver reset or ran out of memory; reload the model with a new backend, or use --backend wasm."),
      );
      this.#failure ??= err;
      return err;
    });
    device.addEventListener("uncapturederror", (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.#failure ??= new WebGpuError(
        `WebGPU reported an uncaptured ${e.constructor.name} on "${report.label}": ${e.message}. ` +
          `This is a bug in a kernel or its dispatch: report it with the model and command that triggered it, and ` +
          `use --backend wasm meanwhile.`,
      );
    });
  }

  /**
   * Request an adapter and a device with the adapter's maximum buffer limits, and probe its arithmetic.
   *
   * @param opts Timeout and power preference.
   * @returns The device.
   * @throws {WebGpuError} Without `navigator.gpu`, without an adapter, or when the device cannot be created in time.
   */
  static async open(opts: WebGpuOpenOptions = {}): Promise<WebGpuDevice> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const adapter = await requestAdapter(opts);
    if (typeof adapter === "string") throw new WebGpuError(`Cannot use the WebGPU backend: ${adapter}`);
    const report = reportOf(adapter);
    const l = adapter.limits;
    const device = await withTimeout(
      adapter.requestDevice({
        requiredLimits: {
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      }),
      timeoutMs,
      `requestDevice() on "${report.label}"`,
      NO_GPU_FIX,
    );
    const dot4 = report.wgslFeatures.includes("packed_4x8_integer_dot_product");
    const fusedFma = await probeFusedFma(device, timeoutMs, report.label);
    return new WebGpuDevice(device, report, { fusedFma, dot4 }, opts.workTimeoutMs ?? DEFAULT_WORK_TIMEOUT_MS);
  }

  /** The first failure seen (device lost, uncaptured error), if any. */
  get failure(): WebGpuError | undefined {
    return this.#failure;
  }

  /** Resolves when the device is lost (never rejects). */
  get lost(): Promise<WebGpuError> {
    return this.#lost;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Throw the recorded failure, or a closed-backend error, before doing `what`.
   *
   * @param what The operation about to run (for the message).
   * @throws {WebGpuError} When the device failed or was closed.
   */
  check(what: string): void {
    if (this.#closed) throw new WebGpuError(`Cannot ${what}: the WebGPU backend is closed. Create a new one.`);
    if (this.#failure) throw this.#failure;
  }

  /**
   * Wait for `p` (a map or queue promise), failing on device loss or after the timeout instead of hanging.
   *
   * @param p The GPU promise.
   * @param what What it is (for the message).
   * @returns `p`'s value.
   * @throws {WebGpuError} On loss, failure or timeout.
   */
  async wait<T>(p: Promise<T>, what: string): Promise<T> {
    const lost = this.#lost.then((e) => Promise.reject(e));
    lost.catch(() => {});
    const v = await withTimeout(
      Promise.race([p, lost]),
      this.timeoutMs,
      `${what} on "${this.report.label}"`,
      "The GPU is hung or the work is too large for it: raise workTimeoutMs, shorten the batch, or use " +
        "--backend wasm.",
    );
    if (this.#failure) throw this.#failure;
    return v;
  }

  /** Destroy the device (and with it every buffer). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.device.destroy();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Whether WGSL `fma` is fused on this device: `(1 + 2^-12)^2 - (1 + 2^-11)` is `2^-24` with one rounding and 0 with
 * two, and `(1 + 2^-23)(1 - 2^-23) - 1` is `-2^-46` fused, 0 otherwise.
 */
async function probeFusedFma(device: GPUDevice, timeoutMs: number, label: string): Promise<boolean> {
  const code = wgslMath({ fusedFma: true, dot4: false }) + byteAccess("o", true) + /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(1) fn main() {
  let a = 1.0 + pf(10u);
  o[0] = bitcast<u32>(fma(a, a, -(1.0 + 2.0 * pf(10u))));
  let b = 1.0 + pf(11u);
  o[1] = bitcast<u32>(fma(b, 1.0 - pf(11u), -1.0));
}`;
  const module = device.createShaderModule({ code, label: "fma probe" });
  const storage = device.createBindGroupLayout({
    entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } }],
  });
  const uniform = device.createBindGroupLayout({
    entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform" } }],
  });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [storage, uniform] }),
    compute: { module, entryPoint: "main" },
  });
  const out = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const params = device.createBuffer({ size: 128, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const p = new Float32Array(32);
    p[10] = 2 ** -12;
    p[11] = 2 ** -23;
    device.queue.writeBuffer(params, 0, p);
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({ layout: storage, entries: [{ binding: 0, resource: { buffer: out } }] }),
    );
    pass.setBindGroup(
      1,
      device.createBindGroup({ layout: uniform, entries: [{ binding: 0, resource: { buffer: params } }] }),
    );
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(out, 0, read, 0, 16);
    device.queue.submit([enc.finish()]);
    await withTimeout(read.mapAsync(GPUMapMode.READ), timeoutMs, `the FMA probe on "${label}"`, NO_GPU_FIX);
    const r = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    return r[0] === 2 ** -24 && r[1] === -(2 ** -46);
  } finally {
    out.destroy();
    params.destroy();
    read.destroy();
  }
}
