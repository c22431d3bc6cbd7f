/**
 * Running build commands: output streamed line by line to a log file and a callback, the tail kept for error
 * messages, and an abort signal that ends the command. Internal to `ffi/references/`.
 *
 * @module
 */

/** A command failed; the message quotes the tail of its output and names the log. */
export class ReferenceBuildError extends Error {
  /** An environment problem (missing tool, source or compiler failure): the CLI exits 2. */
  readonly exitCode = 2;
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReferenceBuildError";
  }
}

/** Options of {@link runLogged}. */
export interface RunLoggedOptions {
  /** Working directory. */
  readonly cwd?: string;
  /** Appended to (created if missing). */
  readonly logPath: string;
  /** The log path error messages name, when the log is kept elsewhere after a failure (default `logPath`). */
  readonly shownLogPath?: string;
  /** Each output line (stdout and stderr, interleaved as they arrive). */
  readonly onLine?: (line: string) => void;
  /** Ends the command (SIGTERM) and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** `nice` increment for the command (0: none). */
  readonly niceness?: number;
  /** What the step is, for messages (`configure ik_llama.cpp`). */
  readonly what: string;
  /** Extra environment. */
  readonly env?: Record<string, string>;
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  sink: (line: string) => void,
): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      sink(buf.slice(0, nl).replace(/\r$/, ""));
      buf = buf.slice(nl + 1);
    }
  }
  buf += dec.decode();
  if (buf) sink(buf);
}

/**
 * Run a command to completion, logging its output.
 *
 * @param cmd Program.
 * @param args Arguments.
 * @param opts Log, callback, signal, niceness.
 * @returns The last 40 output lines.
 * @throws {ReferenceBuildError} When it cannot start or exits non-zero; the message has the output's tail.
 * @throws {DOMException} The signal's reason when aborted.
 */
export async function runLogged(cmd: string, args: readonly string[], opts: RunLoggedOptions): Promise<string[]> {
  const nice = opts.niceness ?? 0;
  const [prog, argv] = nice > 0 ? ["nice", ["-n", String(nice), cmd, ...args]] : [cmd, [...args]];
  const log = await Deno.open(opts.logPath, { append: true, create: true });
  const enc = new TextEncoder();
  const tail: string[] = [];
  const sink = (line: string) => {
    log.writeSync(enc.encode(line + "\n"));
    tail.push(line);
    if (tail.length > 40) tail.shift();
    opts.onLine?.(line);
  };
  try {
    sink(`$ ${[prog, ...argv].join(" ")}`);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(prog, {
        args: argv,
        cwd: opts.cwd,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: opts.env,
      }).spawn();
    } catch (e) {
      throw new ReferenceBuildError(
        `Cannot ${opts.what}: "${cmd}" is not runnable (${(e as Error).message}). ` +
          `Fix: install it (a reference build needs cmake, a C++17 compiler, and ninja or make).`,
        { cause: e },
      );
    }
    const onAbort = () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const [status] = await Promise.all([child.status, pump(child.stdout, sink), pump(child.stderr, sink)]);
      opts.signal?.throwIfAborted();
      if (!status.success) {
        throw new ReferenceBuildError(
          `Cannot ${opts.what}: "${cmd}" exited with ${status.signal ?? `status ${status.code}`}. Its last lines:\n` +
            tail.slice(-15).map((l) => `  ${l}`).join("\n") + `\nFull log: ${opts.shownLogPath ?? opts.logPath}`,
        );
      }
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
    return tail;
  } finally {
    log.close();
  }
}

/**
 * Run a command and return its stdout (for version probes); null when it cannot run or fails.
 *
 * @param cmd Program.
 * @param args Arguments.
 * @returns Trimmed stdout, or null.
 */
export async function probe(cmd: string, args: readonly string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, { args: [...args], stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}
