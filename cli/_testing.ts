/**
 * Running the `crossval` CLI as a user does, in a child process: `deno run -A --config <repo>/deno.json
 * cli/main.ts <args>`, with colours off, collecting the exit code and both streams.
 *
 * @module
 */

/** `cli/main.ts` of this checkout. */
export const MAIN: string = new URL("./main.ts", import.meta.url).pathname;
/** `deno.json` of this checkout (passed explicitly, so a test may run the CLI from any directory). */
export const CONFIG: string = new URL("../deno.json", import.meta.url).pathname;

/** How a CLI run ended. */
export interface CliResult {
  /** Exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

/** Options of {@link crossval}. */
export interface CliOptions {
  /** Working directory (default: the test's). */
  readonly cwd?: string;
  /** Extra environment (`NO_COLOR=1` is always set). */
  readonly env?: Record<string, string>;
  /** Deno permission flags instead of `-A`. */
  readonly perms?: readonly string[];
  /** Module to run instead of `cli/main.ts` (the package's `mod.ts`). */
  readonly entry?: string;
}

/**
 * Run `crossval <args>` to completion.
 *
 * @param args Command-line arguments.
 * @param options Working directory, environment, permissions, entry module.
 * @returns Exit code, stdout and stderr.
 */
export async function crossval(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.perms ?? ["-A"]), "--config", CONFIG, options.entry ?? MAIN, ...args],
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
