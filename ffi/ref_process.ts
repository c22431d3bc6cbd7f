/**
 * The supervisor of the reference child process (`ffi/PROTOCOL.md`): {@link ReferenceProcess} spawns a driver
 * (by default `ref_child.ts`, which runs `CppModel` over `Deno.dlopen`; or any program that speaks the protocol,
 * such as the C driver), talks to it over stdin/stdout, and turns every way it can die (abort, signal, exit, hang
 * past a deadline, memory over the limit, garbage on the channel) into one typed {@link ReferenceCrashedError}
 * with the native message and its `file:line`. {@link RefModel} is a loaded model in that process, with the async
 * counterpart of `CppModel`'s API.
 *
 * @module
 */

import { LibraryLoadError } from "./library.ts";
import type { CppModelSettings, GreedyResult } from "./cpp_model_types.ts";
import type { CapturedTensor } from "./tensor_capture.ts";
import { type CrashKind, nativeFailure, ReferenceCrashedError } from "./ref_crash.ts";
import {
  encodeHeader,
  Fields,
  type Frame,
  frameParts,
  FrameReader,
  type Header,
  payloads,
  PROTOCOL_MAJOR,
  ProtocolError,
} from "./ref_protocol.ts";

/** The program to start as the driver. */
export interface DriverCommand {
  /** Executable. */
  readonly cmd: string;
  /** Arguments. */
  readonly args: readonly string[];
}

/** Per-request deadlines, ms (PROTOCOL.md section 6). */
export interface ReferenceTimeouts {
  /** `hello` (the driver loads the library). Default 60000. */
  readonly hello?: number;
  /** `load`. Default 600000. */
  readonly load?: number;
  /** Every other op. Default 300000. */
  readonly op?: number;
}

/** Options of {@link ReferenceProcess.spawn}. */
export interface ReferenceProcessOptions {
  /** llama.cpp build directory for the driver (`hello`'s `cpp_dir`; overrides `BITNET_CPP_DIR`). */
  readonly cppDir?: string;
  /** Which llama.cpp log lines the driver copies to its stderr (default `warn`). */
  readonly log?: "none" | "error" | "warn" | "info" | "debug";
  /** Every stderr line of the driver as it arrives (`ref-run --verbose` prints them). */
  readonly onStderr?: (line: string) => void;
  /**
   * Memory limit, bytes (default 8 GiB): the driver is killed when its resident set exceeds it plus the size of
   * the model files it has loaded (their mapped pages count as resident), and runs under `RLIMIT_DATA` of this
   * size plus 1 GiB (the runtime's untouched reservations), so an allocation far past it fails inside the child.
   */
  readonly memoryLimitBytes?: number;
  /** Deadlines. */
  readonly timeouts?: ReferenceTimeouts;
  /** The driver program (default: {@link defaultDriverCommand}). */
  readonly driver?: DriverCommand;
  /** Let ggml print native backtraces (it attaches gdb: slow); default off (`GGML_NO_BACKTRACE=1`). */
  readonly backtrace?: boolean;
  /** Extra environment for the driver. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Let the driver hand large payloads over as files in a private directory on `/dev/shm` (PROTOCOL.md, "Bulk
   * files"; measured several times faster than the pipe for megabytes). Default true; false keeps every byte on the
   * pipe.
   */
  readonly bulkFiles?: boolean;
}

/** Who runs the reference: `hello`'s reply (PROTOCOL.md section 4). */
export interface ReferenceIdentity {
  /** Protocol major version. */
  readonly protocol: number;
  /** Protocol minor version. */
  readonly protocolMinor: number;
  /** Ops the driver implements. */
  readonly ops: readonly string[];
  /** `deno` or `c`. */
  readonly driver: string;
  /** Driver version. */
  readonly driverVersion: string;
  /** Driver pid. */
  readonly pid: number;
  /** `llama.cpp`, `ik_llama.cpp` or `custom`. */
  readonly library: string;
  /** `npm`, `BITNET_CPP_DIR`, `archive`, `checkout`. */
  readonly source: string;
  /** Library directory. */
  readonly dir: string;
  /** Release label. */
  readonly release: string;
  /** Version string. */
  readonly version: string;
  /** Source commit. */
  readonly commit: string;
  /** ggml version. */
  readonly ggmlVersion: string;
  /** ggml commit. */
  readonly ggmlCommit: string;
  /** Build flags, free text. */
  readonly buildFlags: string;
  /** What computes, e.g. `CPU (zen4)`. */
  readonly backend: string;
  /** ggml's CPU variant, when known. */
  readonly cpuVariant?: string;
  /** `llama_print_system_info()`. */
  readonly systemInfo: string;
  /** How the ABI was established. */
  readonly abiCheck: string;
}

/** A loaded model's facts (the `load`/`info` reply): `CppModelInfo` with the driver's identity as `library`. */
export interface RefModelInfo {
  /** Model path as sent. */
  readonly path: string;
  /** `general.architecture`. */
  readonly arch: string;
  /** `general.name`, when present. */
  readonly name?: string;
  /** `llama_model_desc`. */
  readonly description: string;
  /** Vocabulary size. */
  readonly nVocab: number;
  /** Training context. */
  readonly nCtxTrain: number;
  /** Hidden size. */
  readonly nEmbd: number;
  /** Layers. */
  readonly nLayer: number;
  /** Attention heads. */
  readonly nHead: number;
  /** KV heads. */
  readonly nHeadKv: number;
  /** Parameter count. */
  readonly nParams: number;
  /** Bytes of all tensors. */
  readonly sizeBytes: number;
  /** BOS id or -1. */
  readonly bos: number;
  /** EOS id or -1. */
  readonly eos: number;
  /** EOT id or -1. */
  readonly eot: number;
  /** Whether `addSpecial` prepends BOS. */
  readonly addBos: boolean;
  /** Whether `addSpecial` appends EOS. */
  readonly addEos: boolean;
  /** The driver and library. */
  readonly library: ReferenceIdentity;
  /** Backend that runs the model. */
  readonly backend: string;
  /** Settings in effect. */
  readonly settings: CppModelSettings;
  /** Milliseconds of loading, measured in the child. */
  readonly loadMs: number;
}

/** Options of {@link ReferenceProcess.load}. */
export interface RefLoadOptions {
  /** Vocabulary only. */
  readonly vocabOnly?: boolean;
  /** Threads (default: all cores, the driver's count). */
  readonly threads?: number;
  /** Context size (default: `min(n_ctx_train, 4096)`). */
  readonly ctx?: number;
  /** Tokens per decode call (default `min(ctx, 512)`). */
  readonly batch?: number;
  /** F32 KV cache and no flash attention. */
  readonly parity?: boolean;
  /** Install the graph callback for {@link RefModel.capture}. */
  readonly captureTensors?: boolean;
}

/** Logits of one evaluation, with the time the child spent in llama.cpp. */
export interface RefEvalResult {
  /** `rows * nVocab` values (owned). */
  readonly logits: Float32Array;
  /** Rows. */
  readonly rows: number;
  /** Row length. */
  readonly nVocab: number;
  /** Position of each row. */
  readonly positions: Int32Array;
  /** Milliseconds inside the child around the decode calls (no pipe). */
  readonly decodeMs: number;
}

/** Intermediates of one capture. */
export interface RefCaptureResult extends RefEvalResult {
  /** Captured tensors by name, in the order they were first computed. */
  readonly tensors: ReadonlyMap<string, CapturedTensor>;
  /** Names that matched but could not be converted, with the reason. */
  readonly skipped: ReadonlyMap<string, string>;
}

const DEFAULT_MEMORY = 8 * 2 ** 30;
/**
 * Added to the `RLIMIT_DATA` of the driver: a Deno driver's V8 reserves writable address space it never touches
 * (measured: Deno 2.9.6 does not start under 400 MiB, does under 600 MiB), so the data limit is a backstop and the
 * resident-set watch is what holds the limit itself.
 */
const RUNTIME_DATA_ALLOWANCE = 2 ** 30;
const TAIL_LINES = 40;
const LINE_MAX = 2000;
const RSS_POLL_MS = 100;
/** Payloads up to this size are copied into the request's one write. */
const SMALL_PAYLOAD = 1 << 16;

function joined(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Bulk directories are named after the program that owns them, so a later one can tell abandoned ones apart. */
const BULK_PREFIX = "crossval-ref-";
const BULK_OWNED = /^crossval-ref-(\d+)-/;

/**
 * Removes the bulk directories in `dir` whose owner is no longer running: a program killed by SIGKILL had no chance
 * to remove its own (on Linux, where `/proc` tells which processes run; elsewhere nothing is removed).
 */
function sweepAbandoned(dir: string): void {
  if (!exists("/proc/self")) return;
  try {
    for (const e of Deno.readDirSync(dir)) {
      const owner = BULK_OWNED.exec(e.name)?.[1];
      if (!e.isDirectory || !owner || Number(owner) === Deno.pid || exists(`/proc/${owner}`)) continue;
      try {
        Deno.removeSync(`${dir}/${e.name}`, { recursive: true });
      } catch {
        // another program removes it at the same moment, or it is not ours to remove
      }
    }
  } catch {
    // unreadable: nothing to sweep
  }
}

/**
 * A private directory for bulk payloads: on `/dev/shm` (memory) where there is one, else the system temp dir,
 * named `crossval-ref-<pid>-…`; abandoned ones of killed programs are removed first.
 */
async function bulkDirectory(): Promise<string | null> {
  for (const dir of ["/dev/shm", undefined]) {
    try {
      const made = await Deno.makeTempDir({ prefix: `${BULK_PREFIX}${Deno.pid}-`, ...(dir ? { dir } : {}) });
      sweepAbandoned(made.slice(0, made.lastIndexOf("/")));
      return made;
    } catch {
      // not there or not writable: try the next
    }
  }
  return null;
}

/** First executable named `name` on PATH, or null. */
function which(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && exists(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return null;
}

/**
 * How the Deno driver is started here: the same executable with the hidden `__reference-child` command inside a
 * `deno compile` binary (`cli/main.ts` dispatches it), else `deno run -A ffi/ref_child.ts` with this checkout's
 * `deno.json` (so the npm package of the pinned llama.cpp resolves as it does for the tool).
 *
 * @returns The command.
 */
export function defaultDriverCommand(): DriverCommand {
  if (Deno.build.standalone) return { cmd: Deno.execPath(), args: ["__reference-child"] };
  const child = new URL("./ref_child.ts", import.meta.url);
  if (child.protocol !== "file:") return { cmd: Deno.execPath(), args: ["run", "-A", "--quiet", child.href] };
  const config = decodeURIComponent(new URL("../deno.json", import.meta.url).pathname);
  return {
    cmd: Deno.execPath(),
    args: ["run", "-A", "--quiet", ...(exists(config) ? ["--config", config] : []), decodeURIComponent(child.pathname)],
  };
}

/** Wrap a command so it runs under `RLIMIT_DATA` (prlimit, else a shell's `ulimit -d`). */
function limited(cmd: DriverCommand, bytes: number): DriverCommand {
  const prlimit = which("prlimit");
  if (prlimit) return { cmd: prlimit, args: [`--data=${bytes}`, "--", cmd.cmd, ...cmd.args] };
  const sh = which("sh");
  if (sh) {
    return { cmd: sh, args: ["-c", `ulimit -d ${Math.floor(bytes / 1024)} && exec "$0" "$@"`, cmd.cmd, ...cmd.args] };
  }
  return cmd;
}

/**
 * Wrap a command so the kernel kills it when this program dies, however it dies (SIGKILL included): util-linux's
 * `setpriv --pdeathsig KILL` sets `PR_SET_PDEATHSIG` (prctl(2)) and execs, and the setting survives the `exec`s
 * of the wrappers and the driver. Without it (not Linux, no util-linux), a driver still exits at the end of the
 * request it computes (PROTOCOL.md: end of input), and a program that ends through `Deno.exit` kills it first.
 * The kernel sends the signal when the thread that spawned the child ends: Deno spawns from the thread that runs
 * the JavaScript (the main thread, or a Worker's), which lives as long as the program (or that Worker).
 */
function killedWithParent(cmd: DriverCommand): DriverCommand {
  const setpriv = Deno.build.os === "linux" ? which("setpriv") : null;
  return setpriv ? { cmd: setpriv, args: ["--pdeathsig", "KILL", "--", cmd.cmd, ...cmd.args] } : cmd;
}

function errorFromReply(f: Fields, op: string): Error {
  const code = f.str("error", "internal"), msg = f.str("message", `the driver reported ${code} for ${op}`);
  let e: Error;
  if (code === "not_found") e = new Deno.errors.NotFound(msg);
  else if (code === "library") e = new LibraryLoadError(msg);
  else if (code === "range" || code === "too_large") e = new RangeError(msg);
  else if (code === "state" || code === "bad_handle" || code === "bad_request") e = new TypeError(msg);
  else e = new Error(msg);
  return Object.assign(e, { code });
}

/** A supervised reference driver process. */
export class ReferenceProcess implements AsyncDisposable, Disposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: FrameReader;
  readonly #opts: ReferenceProcessOptions;
  readonly #tail: string[] = [];
  readonly #stderrDone: Promise<void>;
  readonly #memory: number;
  #identity: ReferenceIdentity | null = null;
  #seq = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #crash: ReferenceCrashedError | null = null;
  #killedFor: CrashKind | null = null;
  #status: Deno.CommandStatus | null = null;
  #statusPromise: Promise<Deno.CommandStatus>;
  #mappedBytes = 0;
  #closed = false;
  #currentModel: string | null = null;
  #bulkDir: string | null = null;
  readonly #onExit = () => this.#endNow();

  private constructor(child: Deno.ChildProcess, opts: ReferenceProcessOptions) {
    this.#child = child;
    this.#opts = opts;
    this.#memory = opts.memoryLimitBytes ?? DEFAULT_MEMORY;
    this.#writer = child.stdin.getWriter();
    this.#reader = new FrameReader(child.stdout);
    this.#stderrDone = this.#drainStderr(child.stderr);
    this.#statusPromise = child.status.then((s) => (this.#status = s));
    // A program that ends through Deno.exit (the CLI after an error or on Ctrl-C) runs no more awaits, so no
    // close(): the `unload` event, which Deno.exit dispatches, is the last chance to end the child and remove
    // the bulk directory.
    globalThis.addEventListener("unload", this.#onExit);
  }

  /** Ends the child at once and removes the bulk directory, synchronously (the program is exiting). */
  #endNow(): void {
    this.#kill(this.#killedFor ?? "exit");
    this.#removeBulkDir();
  }

  /** Removes the bulk directory; once it is gone, nothing is left to clean up at exit. */
  #removeBulkDir(): void {
    if (this.#bulkDir) {
      try {
        Deno.removeSync(this.#bulkDir, { recursive: true });
      } catch {
        // already gone
      }
    }
    this.#bulkDir = null;
    if (this.#status !== null) globalThis.removeEventListener("unload", this.#onExit);
  }

  /**
   * Start a driver and greet it (`hello`): the library is loaded in the child before this returns.
   *
   * @param opts Library directory, log level, limits, deadlines, driver program.
   * @returns The process, ready to load models. Close it (`await using`, or `await close()`) when done.
   * @throws {LibraryLoadError} When the driver cannot load the reference library.
   * @throws {ReferenceCrashedError} When the driver dies or hangs while starting.
   * @throws {Error} When the driver program cannot be started, or speaks another protocol version.
   * @example
   * ```ts
   * import { ReferenceProcess } from "./ref_process.ts";
   * import { llamaSourceDir } from "./llama_source.ts";
   * await using ref = await ReferenceProcess.spawn();
   * await using m = await ref.load(`${await llamaSourceDir()}/models/ggml-vocab-llama-bpe.gguf`, { vocabOnly: true });
   * console.log(await m.tokenize("Hello", { addSpecial: false }), ref.identity.library); // [9906] "llama.cpp"
   * ```
   */
  static async spawn(opts: ReferenceProcessOptions = {}): Promise<ReferenceProcess> {
    const base = opts.driver ?? defaultDriverCommand();
    const cmd = killedWithParent(limited(base, (opts.memoryLimitBytes ?? DEFAULT_MEMORY) + RUNTIME_DATA_ALLOWANCE));
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(cmd.cmd, {
        args: [...cmd.args],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        env: { ...(opts.backtrace ? {} : { GGML_NO_BACKTRACE: "1" }), ...(opts.env ?? {}) },
      }).spawn();
    } catch (e) {
      throw new Error(
        `Cannot start the reference process "${base.cmd} ${base.args.join(" ")}": ${(e as Error).message}. ` +
          `It needs the permission to run subprocesses (--allow-run or -A).`,
        { cause: e },
      );
    }
    const p = new ReferenceProcess(child, opts);
    try {
      p.#bulkDir = opts.bulkFiles === false ? null : await bulkDirectory();
      const r = await p.#request("hello", {
        protocol: PROTOCOL_MAJOR,
        log: opts.log ?? "warn",
        ...(opts.cppDir !== undefined ? { cpp_dir: opts.cppDir } : {}),
        ...(p.#bulkDir ? { bulk_dir: p.#bulkDir } : {}),
      });
      p.#identity = identityOf(new Fields(r.header, `reply to "hello"`));
    } catch (e) {
      await p.close();
      throw e;
    }
    return p;
  }

  /** The driver and library (from `hello`). */
  get identity(): ReferenceIdentity {
    return this.#identity!;
  }

  /** The driver's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /** The crash that ended the child, or null while it lives. */
  get crash(): ReferenceCrashedError | null {
    return this.#crash;
  }

  /** The last lines the child wrote to stderr. */
  get stderrTail(): readonly string[] {
    return [...this.#tail];
  }

  async #drainStderr(stream: ReadableStream<Uint8Array>): Promise<void> {
    let partial = "";
    const push = (line: string) => {
      this.#tail.push(line.length > LINE_MAX ? line.slice(0, LINE_MAX) + "…" : line);
      if (this.#tail.length > TAIL_LINES) this.#tail.shift();
      this.#opts.onStderr?.(line);
    };
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        partial += chunk;
        let nl: number;
        while ((nl = partial.indexOf("\n")) >= 0) {
          push(partial.slice(0, nl));
          partial = partial.slice(nl + 1);
        }
        if (partial.length > 64 * LINE_MAX) {
          push(partial);
          partial = "";
        }
      }
    } catch {
      // the stream broke with the process: what was read is kept
    }
    if (partial) push(partial);
  }

  /**
   * Send one request and wait for its reply. Requests are queued: one at a time, as the protocol requires.
   *
   * @param op Op name.
   * @param fields Header fields besides `op` and `seq`.
   * @param payload Payload bytes.
   * @returns The reply frame (status ok).
   * @throws {ReferenceCrashedError} When the child dies, hangs or breaks the protocol (and for every request
   *   after that).
   * @throws {Error} The driver's error reply, as `NotFound`, `LibraryLoadError`, `RangeError`, `TypeError` or
   *   `Error`, with its protocol code as `code`.
   */
  request(
    op: string,
    fields: Record<string, string | number | boolean | undefined> = {},
    payload?: Uint8Array,
  ): Promise<Frame> {
    return this.#request(op, fields, payload);
  }

  #request(
    op: string,
    fields: Record<string, string | number | boolean | undefined>,
    payload?: Uint8Array,
  ): Promise<Frame> {
    const run = this.#queue.then(() => this.#exchange(op, fields, payload));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #exchange(
    op: string,
    fields: Record<string, string | number | boolean | undefined>,
    payload?: Uint8Array,
  ): Promise<Frame> {
    if (this.#crash) throw this.#crash;
    if (this.#closed) {
      throw new TypeError(`Cannot send "${op}": the reference process is closed. Spawn a new one.`);
    }
    const seq = ++this.#seq;
    const t = this.#opts.timeouts ?? {};
    const deadline = op === "hello" ? t.hello ?? 60_000 : op === "load" ? t.load ?? 600_000 : t.op ?? 300_000;
    const t0 = performance.now();
    let timer = setTimeout(() => this.#kill("timeout"), deadline);
    const rss = setInterval(() => this.#checkRss(), RSS_POLL_MS);
    let frame: Frame | null = null;
    let protocolError: ProtocolError | null = null;
    try {
      try {
        // One write per request unless the payload is large: each write is a round through the runtime's I/O.
        const parts = frameParts(encodeHeader({ op, seq, ...fields }), payload);
        const whole = parts.length === 2 && parts[1].length <= SMALL_PAYLOAD ? [joined(parts)] : parts;
        try {
          for (const part of whole) await this.#writer.write(part);
        } catch {
          // A broken pipe: the child exited (or closed stdin) before reading. What it wrote first (a frame, or
          // stray text that makes this a protocol error) is still in its stdout, so read on: the stream ends
          // with the child, and one that lingers is ended after a short grace.
          clearTimeout(timer);
          timer = setTimeout(() => this.#kill(this.#killedFor ?? "exit"), 5_000);
        }
        frame = await this.#reader.next();
      } catch (e) {
        // Anything else (a broken pipe, a closed stream) means the child is going or gone: #died finds out how.
        if (e instanceof ProtocolError) {
          protocolError = e;
          this.#kill("protocol");
        }
      }
    } finally {
      clearTimeout(timer);
      clearInterval(rss);
    }
    if (!frame) throw await this.#died(op, seq, performance.now() - t0, protocolError);
    const f = new Fields(frame.header, `reply to "${op}"`);
    if (f.opt("seq") !== String(seq)) {
      this.#kill("protocol");
      throw await this.#died(
        op,
        seq,
        performance.now() - t0,
        new ProtocolError(`Reply to request ${seq} ("${op}") carries seq ${f.opt("seq")}`),
      );
    }
    if (f.opt("status") !== "ok") throw errorFromReply(f, op);
    const file = f.opt("payload_file");
    if (file === undefined) return frame;
    return { header: frame.header, payload: this.#readBulk(file, f.int("payload_bytes"), op, seq) };
  }

  /** A payload the child wrote to the shared directory (PROTOCOL.md, "Bulk files"): read it, then remove it. */
  #readBulk(name: string, bytes: number, op: string, seq: number): Uint8Array {
    const path = `${this.#bulkDir}/${name}`;
    if (!this.#bulkDir || name.includes("/") || name.startsWith(".")) {
      this.#kill("protocol");
      throw new ProtocolError(`Reply to "${op}" names a payload file "${name}" outside the shared directory`);
    }
    let data: Uint8Array;
    try {
      // Read straight into a buffer of the announced size (readFileSync grows its buffer as it goes: 2-4x slower).
      using file = Deno.openSync(path, { read: true });
      data = new Uint8Array(Math.min(bytes, file.statSync().size));
      for (let o = 0; o < data.length;) {
        const n = file.readSync(data.subarray(o));
        if (!n) break;
        o += n;
      }
      Deno.removeSync(path);
    } catch (e) {
      this.#kill("protocol");
      throw new ProtocolError(`Cannot read the payload file of request ${seq} ("${op}"): ${(e as Error).message}`);
    }
    if (data.length !== bytes) {
      this.#kill("protocol");
      throw new ProtocolError(`Payload file of "${op}" has ${data.length} bytes, the reply says ${bytes}`);
    }
    return data;
  }

  #kill(kind: CrashKind): void {
    this.#killedFor ??= kind;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  async #checkRss(): Promise<void> {
    try {
      const status = await Deno.readTextFile(`/proc/${this.#child.pid}/status`);
      const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
      if (kb * 1024 > this.#memory + this.#mappedBytes) this.#kill("memory");
    } catch {
      // not Linux, or the process is gone: the exit path reports it
    }
  }

  /** Wait for the child to be gone, then describe how it ended. */
  async #died(
    op: string,
    seq: number,
    wallMs: number,
    protocolError: ProtocolError | null,
  ): Promise<ReferenceCrashedError> {
    // A child that closed stdout but lingers (a native thread stuck) is ended after a short grace.
    const grace = setTimeout(() => this.#kill(this.#killedFor ?? "exit"), 5_000);
    const status = await this.#statusPromise;
    clearTimeout(grace);
    await this.#stderrDone;
    const tail = [...this.#tail];
    const native = nativeFailure(tail);
    const signal = status.signal ?? null;
    let kind: CrashKind;
    if (this.#killedFor) kind = this.#killedFor;
    else if (protocolError) kind = "protocol";
    else if (native.allocation && !native.location) kind = "memory";
    else if (signal === "SIGABRT") kind = "abort";
    else if (signal) kind = "signal";
    else kind = "exit";
    const lastLine = [...tail].reverse().find((l) => l.trim() !== "");
    const message = protocolError?.message ??
      (kind === "timeout"
        ? `no reply to "${op}" within its deadline`
        : kind === "memory" && this.#killedFor === "memory"
        ? `resident memory exceeded ${(this.#memory / 2 ** 30).toFixed(1)} GiB (plus the mapped model files)`
        : native.message ?? lastLine ?? (signal ? `terminated by ${signal}` : `exit status ${status.code}`));
    this.#crash = new ReferenceCrashedError({
      kind,
      op,
      seq,
      exitCode: signal ? null : status.code,
      signal,
      message,
      location: native.location,
      stderrTail: tail,
      pid: this.#child.pid,
      wallMs,
      modelPath: this.#currentModel,
      reference: this.#identity
        ? {
          library: this.#identity.library,
          release: this.#identity.release,
          version: this.#identity.version,
          commit: this.#identity.commit,
          ggmlCommit: this.#identity.ggmlCommit,
          source: this.#identity.source,
          backend: this.#identity.backend,
        }
        : null,
    });
    await this.#reader.cancel();
    this.#removeBulkDir();
    return this.#crash;
  }

  /**
   * Load a model in the child.
   *
   * @param path GGUF path (made absolute here, so the child's working directory does not matter).
   * @param opts Load options; see {@link RefLoadOptions}.
   * @returns The model.
   * @throws {Deno.errors.NotFound} When the file does not exist.
   * @throws {Error} With `code` `invalid_model` or `context` when llama.cpp refuses it (the message quotes its log).
   * @throws {ReferenceCrashedError} When llama.cpp aborts while loading it.
   */
  async load(path: string, opts: RefLoadOptions = {}): Promise<RefModel> {
    const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
    this.#currentModel = path;
    const r = await this.#request("load", {
      path: abs,
      vocab_only: opts.vocabOnly ?? false,
      parity: opts.parity ?? false,
      capture: opts.captureTensors ?? false,
      n_ctx: opts.ctx,
      n_batch: opts.batch,
      threads: opts.threads,
    });
    try {
      this.#mappedBytes += Deno.statSync(abs).size;
    } catch {
      // the child read it; a vanished file changes nothing here
    }
    const f = new Fields(r.header, `reply to "load"`);
    return new RefModel(this, f.int("model"), infoOf(f, path, this.identity));
  }

  /**
   * End the child: `close` when it is alive, else nothing to do; waits for it to exit. Never throws.
   */
  async close(): Promise<void> {
    if (!this.#closed && !this.#crash && this.#status === null) {
      try {
        await this.#request("close", {});
      } catch {
        // it died on the way out: nothing is lost
      }
    }
    this.#closed = true;
    try {
      await this.#writer.close();
    } catch {
      // already closed
    }
    const grace = setTimeout(() => this.#kill(this.#killedFor ?? "exit"), 5_000);
    await this.#statusPromise;
    clearTimeout(grace);
    await this.#stderrDone;
    await this.#reader.cancel();
    this.#removeBulkDir();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Synchronous disposal: close the child's stdin (it exits on end of input) without waiting; prefer
   * `await using` / {@link close}, which also waits for the exit.
   */
  [Symbol.dispose](): void {
    this.#closed = true;
    this.#writer.close().catch(() => {});
  }
}

function identityOf(f: Fields): ReferenceIdentity {
  const cpuVariant = f.opt("cpu_variant");
  return {
    protocol: f.int("protocol"),
    protocolMinor: f.int("protocol_minor", 0),
    ops: f.str("ops", "").split(",").filter(Boolean),
    driver: f.str("driver", ""),
    driverVersion: f.str("driver_version", ""),
    pid: f.int("pid", 0),
    library: f.str("library", ""),
    source: f.str("source", ""),
    dir: f.str("dir", ""),
    release: f.str("release", ""),
    version: f.str("version", ""),
    commit: f.str("commit", ""),
    ggmlVersion: f.str("ggml_version", ""),
    ggmlCommit: f.str("ggml_commit", ""),
    buildFlags: f.str("build_flags", ""),
    backend: f.str("backend", ""),
    ...(cpuVariant ? { cpuVariant } : {}),
    systemInfo: f.str("system_info", ""),
    abiCheck: f.str("abi_check", ""),
  };
}

function infoOf(f: Fields, path: string, identity: ReferenceIdentity): RefModelInfo {
  const name = f.opt("name");
  const resolved = f.opt("flash_attn_resolved");
  return {
    path,
    arch: f.str("arch", "?"),
    ...(name !== undefined ? { name } : {}),
    description: f.str("description", ""),
    nVocab: f.int("n_vocab"),
    nCtxTrain: f.int("n_ctx_train", 0),
    nEmbd: f.int("n_embd", 0),
    nLayer: f.int("n_layer", 0),
    nHead: f.int("n_head", 0),
    nHeadKv: f.int("n_head_kv", 0),
    nParams: f.int("n_params", 0),
    sizeBytes: f.int("size_bytes", 0),
    bos: f.int("bos", -1),
    eos: f.int("eos", -1),
    eot: f.int("eot", -1),
    addBos: f.bool("add_bos", false),
    addEos: f.bool("add_eos", false),
    library: identity,
    backend: identity.backend,
    settings: {
      vocabOnly: f.bool("vocab_only", false),
      parity: f.bool("parity", false),
      nCtx: f.int("n_ctx", 0),
      nBatch: f.int("n_batch", 0),
      nUbatch: f.int("n_ubatch", 0),
      threads: f.int("threads", 0),
      threadsBatch: f.int("threads_batch", 0),
      typeK: f.oneOf("type_k", ["f32", "f16"] as const, "f16"),
      typeV: f.oneOf("type_v", ["f32", "f16"] as const, "f16"),
      flashAttn: f.oneOf("flash_attn", ["auto", "disabled"] as const, "auto"),
      ...(resolved === "enabled" || resolved === "disabled" ? { flashAttnResolved: resolved } : {}),
      captureTensors: f.bool("capture", false),
    },
    loadMs: f.float("load_ms", 0),
  };
}

/** A model loaded in a {@link ReferenceProcess}: `CppModel`'s operations, asynchronous, results owned. */
export class RefModel implements AsyncDisposable {
  readonly #proc: ReferenceProcess;
  readonly #handle: number;
  readonly #info: RefModelInfo;
  #nPast = 0;
  #closed = false;

  /**
   * Wraps a handle (use {@link ReferenceProcess.load}).
   *
   * @param proc The process.
   * @param handle The driver's model handle.
   * @param info The load reply.
   */
  constructor(proc: ReferenceProcess, handle: number, info: RefModelInfo) {
    this.#proc = proc;
    this.#handle = handle;
    this.#info = info;
  }

  /** Facts and settings (from `load`). */
  info(): RefModelInfo {
    return this.#info;
  }

  /** Vocabulary size. */
  get nVocab(): number {
    return this.#info.nVocab;
  }

  /** Tokens in the KV cache. */
  get nPast(): number {
    return this.#nPast;
  }

  /** The process this model lives in. */
  get process(): ReferenceProcess {
    return this.#proc;
  }

  #req(op: string, fields: Record<string, string | number | boolean | undefined> = {}, payload?: Uint8Array) {
    if (this.#closed) {
      return Promise.reject(new TypeError(`Cannot ${op}: this model ("${this.#info.path}") is closed. Load it again.`));
    }
    return this.#proc.request(op, { model: this.#handle, ...fields }, payload);
  }

  /**
   * Tokenize (`llama_tokenize`).
   *
   * @param text Text or exact bytes.
   * @param opts `addSpecial` (default true), `parseSpecial` (default false).
   * @returns Token ids.
   */
  async tokenize(
    text: string | Uint8Array,
    opts: { addSpecial?: boolean; parseSpecial?: boolean } = {},
  ): Promise<Int32Array> {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    const r = await this.#req("tokenize", {
      add_special: opts.addSpecial ?? true,
      parse_special: opts.parseSpecial ?? false,
    }, bytes);
    return payloads.readIds(r.payload);
  }

  /**
   * Token ids back to bytes (`llama_detokenize`).
   *
   * @param ids Token ids.
   * @param opts `removeSpecial`, `unparseSpecial`.
   * @returns The bytes.
   */
  async detokenizeBytes(
    ids: ArrayLike<number>,
    opts: { removeSpecial?: boolean; unparseSpecial?: boolean } = {},
  ): Promise<Uint8Array> {
    const r = await this.#req(
      "detokenize",
      { remove_special: opts.removeSpecial ?? false, unparse_special: opts.unparseSpecial ?? false },
      payloads.ids(ids),
    );
    return r.payload;
  }

  /**
   * Token ids back to text.
   *
   * @param ids Token ids.
   * @param opts `removeSpecial`, `unparseSpecial`.
   * @returns The text (UTF-8 with replacement characters).
   */
  async detokenize(
    ids: ArrayLike<number>,
    opts: { removeSpecial?: boolean; unparseSpecial?: boolean } = {},
  ): Promise<string> {
    return new TextDecoder().decode(await this.detokenizeBytes(ids, opts));
  }

  /**
   * The bytes of many tokens (`llama_token_to_piece`), in one request.
   *
   * @param ids Token ids.
   * @param opts `special` (render special tokens), `lstrip`.
   * @returns One byte string per id.
   */
  async pieces(ids: ArrayLike<number>, opts: { special?: boolean; lstrip?: number } = {}): Promise<Uint8Array[]> {
    const r = await this.#req(
      "pieces",
      { special: opts.special ?? false, lstrip: opts.lstrip ?? 0 },
      payloads.ids(ids),
    );
    return payloads.readItems(r.payload);
  }

  /**
   * Which tokens end generation.
   *
   * @param ids Token ids.
   * @returns One boolean per id.
   */
  async isEog(ids: ArrayLike<number>): Promise<boolean[]> {
    const r = await this.#req("is_eog", {}, payloads.ids(ids));
    return Array.from(r.payload, (b) => b === 1);
  }

  /**
   * One metadata value as llama.cpp reads it.
   *
   * @param key Key.
   * @returns The value, or undefined.
   */
  async meta(key: string): Promise<string | undefined> {
    const f = new Fields((await this.#req("meta", { key })).header, `reply to "meta"`);
    return f.bool("found", false) ? f.str("value", "") : undefined;
  }

  /** All scalar metadata as strings, in file order. */
  async metadata(): Promise<Record<string, string>> {
    const items = payloads.readItems((await this.#req("meta")).payload);
    const dec = new TextDecoder(), out: Record<string, string> = {};
    for (let i = 0; i + 1 < items.length; i += 2) out[dec.decode(items[i])] = dec.decode(items[i + 1]);
    return out;
  }

  #evalResult(h: Header, payload: Uint8Array, op: string): RefEvalResult {
    const f = new Fields(h, `reply to "${op}"`);
    const rows = f.int("rows"), nVocab = f.int("n_vocab"), pos0 = f.int("pos0", 0);
    this.#nPast = f.int("n_past", this.#nPast);
    return {
      logits: payloads.readF32(payload, 0, rows * nVocab),
      rows,
      nVocab,
      // `all`: row i is position pos0 + i; `last`: the one row is the last position (the same when rows is 1).
      positions: Int32Array.from({ length: rows }, (_, i) => (rows > 1 ? pos0 + i : this.#nPast - 1)),
      decodeMs: f.float("decode_ms", NaN),
    };
  }

  /**
   * Evaluate tokens (fresh sequence, or appended with `append`).
   *
   * @param ids Token ids.
   * @param opts `positions` (`last` default, `all`), `append`.
   * @returns Owned logits and the child's own time.
   * @throws {RangeError} For bad ids, empty input, a full context.
   * @throws {ReferenceCrashedError} When llama.cpp aborts.
   */
  async eval(
    ids: ArrayLike<number>,
    opts: { positions?: "all" | "last"; append?: boolean } = {},
  ): Promise<RefEvalResult> {
    const r = await this.#req(
      "eval",
      { mode: opts.append ? "append" : "reset", logits: opts.positions ?? "last" },
      payloads.ids(ids),
    );
    return this.#evalResult(r.header, r.payload, "eval");
  }

  /**
   * Append tokens and return the last one's logits (`CppModel.decode`).
   *
   * @param ids Token ids.
   * @returns `nVocab` logits (owned).
   */
  async decode(ids: ArrayLike<number>): Promise<Float32Array> {
    return (await this.eval(ids, { append: true })).logits;
  }

  /**
   * Append tokens, computing the last one's logits without transferring them: the child's time for it.
   *
   * @param ids Token ids.
   * @param opts `append` (default true) or a fresh sequence.
   * @returns Milliseconds measured inside the child.
   */
  async decodeTimed(ids: ArrayLike<number>, opts: { append?: boolean } = {}): Promise<number> {
    const r = await this.#req(
      "eval",
      { mode: (opts.append ?? true) ? "append" : "reset", logits: "none" },
      payloads.ids(ids),
    );
    const f = new Fields(r.header, `reply to "eval"`);
    this.#nPast = f.int("n_past", this.#nPast);
    return f.float("decode_ms");
  }

  /** Clear the KV cache. */
  async reset(): Promise<void> {
    await this.#req("reset");
    this.#nPast = 0;
  }

  /**
   * Greedy continuation, timed inside the child.
   *
   * @param prompt Text (tokenized with `opts`) or token ids.
   * @param n Tokens to generate at most.
   * @param opts Tokenization options, `stopAtEog` (default true).
   * @returns Ids, text and the child's timings.
   */
  async generateGreedy(
    prompt: string | Uint8Array | ArrayLike<number>,
    n: number,
    opts: { addSpecial?: boolean; parseSpecial?: boolean; stopAtEog?: boolean } = {},
  ): Promise<GreedyResult> {
    const promptIds = typeof prompt === "string" || prompt instanceof Uint8Array
      ? await this.tokenize(prompt, opts)
      : Int32Array.from(prompt);
    const r = await this.#req("greedy", { n, stop_at_eog: opts.stopAtEog ?? true }, payloads.ids(promptIds));
    const f = new Fields(r.header, `reply to "greedy"`);
    const ids = payloads.readIds(r.payload).slice();
    this.#nPast = promptIds.length + f.int("gen_decodes", 0);
    const promptMs = f.float("prompt_ms", NaN), genMs = f.float("gen_ms", NaN), decodes = f.int("gen_decodes", 0);
    return {
      promptIds,
      ids,
      text: await this.detokenize(ids),
      stoppedAtEog: f.bool("stopped_at_eog", false),
      timings: {
        promptTokens: f.int("prompt_tokens", promptIds.length),
        promptMs,
        genDecodes: decodes,
        genMs,
        promptTokPerS: promptIds.length / (promptMs / 1000),
        genTokPerS: decodes ? decodes / (genMs / 1000) : NaN,
      },
    };
  }

  /**
   * Greedy continuation of token ids with the logits of every step, in one request (`greedy` with `logits=1`).
   *
   * @param promptIds Prompt token ids.
   * @param n Tokens to generate.
   * @param opts `stopAtEog` (default false here: parity compares every step).
   * @returns The ids and `ids.length` rows of logits: row s is what token s was taken from.
   */
  async greedyTrajectory(
    promptIds: ArrayLike<number>,
    n: number,
    opts: { stopAtEog?: boolean } = {},
  ): Promise<{ ids: Int32Array; logits: Float32Array; promptMs: number; genMs: number }> {
    const r = await this.#req(
      "greedy",
      { n, stop_at_eog: opts.stopAtEog ?? false, logits: true },
      payloads.ids(promptIds),
    );
    const f = new Fields(r.header, `reply to "greedy"`);
    const count = f.int("n"), nVocab = f.int("n_vocab", this.nVocab);
    this.#nPast = promptIds.length + f.int("gen_decodes", 0);
    return {
      ids: payloads.readIds(r.payload.subarray(0, count * 4)).slice(),
      logits: payloads.readF32(r.payload, count * 4, count * nVocab),
      promptMs: f.float("prompt_ms", NaN),
      genMs: f.float("gen_ms", NaN),
    };
  }

  /**
   * Evaluate from position 0 with named intermediates captured (the model must be loaded with `captureTensors`).
   *
   * @param ids Token ids (within one micro-batch).
   * @param filter Regular expression over graph names, in the subset PROTOCOL.md allows.
   * @param opts `positions` (default `all`).
   * @returns Logits and tensors.
   */
  async capture(
    ids: ArrayLike<number>,
    filter: string,
    opts: { positions?: "all" | "last" } = {},
  ): Promise<RefCaptureResult> {
    const r = await this.#req("capture", { filter, logits: opts.positions ?? "all" }, payloads.ids(ids));
    const base = this.#evalResult(r.header, r.payload, "capture");
    const f = new Fields(r.header, `reply to "capture"`);
    const tensors = new Map<string, CapturedTensor>();
    let offset = base.rows * base.nVocab * 4;
    for (let i = 0; i < f.int("tensors", 0); i++) {
      const shape = f.ints(`tensor.${i}.shape`);
      const count = shape.reduce((a, b) => a * b, 1);
      const name = f.str(`tensor.${i}.name`);
      tensors.set(name, {
        name,
        type: f.str(`tensor.${i}.type`, "f32"),
        shape,
        data: payloads.readF32(r.payload, offset, count),
      });
      offset += count * 4;
    }
    const skipped = new Map<string, string>();
    for (let j = 0; j < f.int("skipped", 0); j++) {
      skipped.set(f.str(`skipped.${j}.name`), f.str(`skipped.${j}.reason`, ""));
    }
    return { ...base, tensors, skipped };
  }

  /** Free the model in the child (`unload`). Never throws: a dead child holds nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#req("unload");
    } catch {
      // the child is gone or closing: nothing is held
    }
    this.#closed = true;
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
