/**
 * `crossval fetch`: provision the lockfile's models into the cache (validation spec Phase A), or with `--verify-only`
 * re-hash what is cached. Progress is a bar per model on a TTY (cli-progress, on stderr); with `--json`, or when
 * stdout is not a terminal, every event is one JSON line on stdout, and the last line is the report.
 *
 * Exit codes: 0 every model present and verified; 1 the checked thing failed (a checksum or size mismatch,
 * `--verify-only` finding a missing, corrupt or extra entry); 2 usage or environment (bad flags or lockfile,
 * network down after retries, HTTP 4xx, offline with a model missing, no disk space, lock timeout);
 * 130 interrupted by Ctrl-C (the partial download is kept; the same command resumes it).
 *
 * @module
 */

import process from "node:process";
import { styleText } from "node:util";
import {
  ChecksumMismatchError,
  defaultLockfilePath,
  type FetchEvent,
  fetchModels,
  type FetchReport,
  Lockfile,
  LockfileError,
  type ModelReport,
} from "../lock/mod.ts";
import { humanBytes } from "./_output.ts";
import { formatError, UsageError } from "./_errors.ts";
import { handleInterrupts, interruptExitCode } from "./_interrupt.ts";

/** Flags of `fetch` as commander parses them. */
export interface FetchFlags {
  tier?: string;
  model?: string;
  lockfile?: string;
  cacheDir?: string;
  verifyOnly?: boolean;
  force?: boolean;
  offline?: boolean;
  json?: boolean;
}

/** How events reach the user. */
interface Renderer {
  event(e: FetchEvent): void;
  finish(report: FetchReport): void;
  /** Stops drawing (interrupted or failed). */
  stop(): void;
}

function serializeError(e: Error | undefined): Record<string, unknown> | undefined {
  if (!e) return undefined;
  const extra = e instanceof ChecksumMismatchError
    ? { expected_sha256: e.expectedSha256, actual_sha256: e.actualSha256 ?? null, actual_size: e.actualSize }
    : {};
  return { name: e.name, message: e.message, ...extra };
}

function reportJson(report: FetchReport): Record<string, unknown> {
  return {
    type: "report",
    ...report,
    models: report.models.map((m) => ({ ...m, error: serializeError(m.error) })),
  };
}

/** NDJSON: one event per line, with a timestamp, then the report. */
function ndjsonRenderer(): Renderer {
  const line = (o: unknown) => console.log(JSON.stringify(o));
  return {
    event: (e) => line({ ts: new Date().toISOString(), ...e }),
    finish: (report) => line({ ts: new Date().toISOString(), ...reportJson(report) }),
    stop: () => {},
  };
}

function duration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return "--";
  if (s < 60) return `${Math.ceil(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, "0")}s`;
}

/** A bar per model on stderr (TTY), notes above the bars, a summary on stdout. */
function ttyRenderer(): Renderer {
  // cli-progress costs ~25 ms to load, more than the rest of a warm fetch: it is loaded on the first event that
  // needs a bar, and bars appear with the progress events that follow. A warm fetch never loads it.
  // deno-lint-ignore no-explicit-any
  let multi: any;
  let loading = false;
  const loadBars = () => {
    if (loading || process.stderr.isTTY !== true) return;
    loading = true;
    import("cli-progress").then(({ default: cliProgress }) => {
      multi = new cliProgress.MultiBar({
        format: " {model} {phase} |{bar}| {percentage}% {done}/{size} {rate}/s ETA {left}",
        stream: process.stderr,
        hideCursor: true,
        barsize: 30,
        barCompleteChar: "\u2588",
        barIncompleteChar: "\u2591",
        fps: 10,
      });
    }, () => {});
  };
  // deno-lint-ignore no-explicit-any
  const bars = new Map<string, any>();
  const newBar = (model: string, size: number, from: number) =>
    multi?.create(size, from, {
      model,
      phase: "",
      done: humanBytes(from),
      size: humanBytes(size),
      rate: "0 B",
      left: "--",
    });
  const note = (text: string) => multi ? multi.log(`${text}\n`) : console.error(text);
  return {
    event(e) {
      switch (e.type) {
        case "start": {
          loadBars();
          const from = e.resume_from > 0 ? ` (resuming at ${humanBytes(e.resume_from)})` : "";
          note(`${styleText("cyan", "fetch")} ${e.model} from ${e.url}${from}`);
          bars.set(e.model, newBar(e.model, e.size_bytes, e.resume_from));
          break;
        }
        case "progress":
          // Re-hashing a cached model or --verify-only has no start event, and cli-progress may have loaded after
          // the start: the bar appears with the progress.
          loadBars();
          if (!bars.get(e.model)) bars.set(e.model, newBar(e.model, e.bytes_total, e.bytes_done));
          bars.get(e.model)?.update(e.bytes_done, {
            phase: e.phase,
            done: humanBytes(e.bytes_done),
            rate: humanBytes(e.rate_bps),
            left: duration(e.eta_s),
          });
          break;
        case "retry":
          note(
            `${styleText("yellow", "retry")} ${e.model}: ${e.reason}; attempt ${
              e.attempt + 1
            } of ${e.max_attempts} in ` +
              `${(e.delay_ms / 1000).toFixed(1)} s`,
          );
          break;
        case "restart":
          note(`${styleText("yellow", "restart")} ${e.model}: ${e.reason}`);
          break;
        case "lock":
          note(`${styleText(e.state === "waiting" ? "yellow" : "cyan", "lock")} ${e.model}: ${e.message}`);
          break;
        case "verified":
          note(`${styleText("green", "verified")} ${e.model} sha256 ${e.sha256}`);
          break;
        case "extra":
          note(`${styleText("red", "extra")} ${e.path} (not in the lockfile)`);
          break;
        case "done": {
          const bar = bars.get(e.model);
          if (bar) multi?.remove(bar);
          bars.delete(e.model);
          break;
        }
        case "cached":
        case "error":
          break;
      }
    },
    stop: () => multi?.stop(),
    finish(report) {
      multi?.stop();
      for (const m of report.models) console.log(summaryLine(m));
      for (const p of report.extra) console.log(`${styleText("red", "✗")} extra  ${p}`);
      const counts = new Map<string, number>();
      for (const m of report.models) counts.set(m.status, (counts.get(m.status) ?? 0) + 1);
      const n = report.models.length;
      if (report.mode === "fetch" && counts.get("cached") === n) {
        console.log(`All ${n} model${n === 1 ? " is" : "s are"} already cached and verified; nothing downloaded.`);
      } else {
        console.log([...counts].map(([s, c]) => `${c} ${s}`).join(", ") + ` (cache: ${report.cache_dir})`);
      }
    },
  };
}

function summaryLine(m: ModelReport): string {
  const ok = ["cached", "downloaded", "copied", "generated", "verified"].includes(m.status);
  const mark = ok ? styleText("green", "✓") : styleText("red", "✗");
  const moved = m.bytes_transferred > 0 ? `, ${humanBytes(m.bytes_transferred)} transferred` : "";
  const head = `${mark} ${m.name} [${m.tier}] ${m.status} (${humanBytes(m.size_bytes)}${moved}, ` +
    `${m.seconds.toFixed(2)} s)`;
  return ok ? `${head}\n    ${m.path}` : `${head}\n    ${formatError(m.error)}`;
}

/** Exit code for a report: 1 when the checked thing failed, 2 for environment failures, else 0. */
function exitCodeFor(report: FetchReport): number {
  if (report.mode === "verify") return report.ok ? 0 : 1;
  let code = 0;
  for (const m of report.models) {
    if (!m.error) continue;
    code = Math.max(code, m.error instanceof ChecksumMismatchError ? 1 : 2);
  }
  return code;
}

/**
 * Run `fetch`.
 *
 * @param flags Parsed flags.
 * @returns The exit code.
 * @throws {UsageError} For contradictory flags, an unknown tier or model, or an invalid lockfile.
 */
export async function fetchCommand(flags: FetchFlags): Promise<number> {
  if (flags.verifyOnly && flags.force) {
    throw new UsageError("Cannot combine --verify-only with --force: verification never downloads. Pick one.");
  }
  const path = flags.lockfile ?? defaultLockfilePath();
  let lock: Lockfile;
  try {
    lock = await Lockfile.load(path);
  } catch (e) {
    if (e instanceof LockfileError) throw new UsageError(e.message);
    throw e;
  }
  try {
    lock.select({ tier: flags.tier, model: flags.model });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  const json = flags.json === true || !Deno.stdout.isTerminal();
  const renderer = json ? ndjsonRenderer() : ttyRenderer();
  const ctl = new AbortController();
  let interrupts = 0;
  let stoppedBy: "SIGINT" | "SIGTERM" = "SIGINT";
  // First Ctrl-C or SIGTERM: stop cleanly (checkpoint the partial, release the lock). Second: leave at once.
  using _interrupts = handleInterrupts((signal) => {
    if (++interrupts > 1) Deno.exit(interruptExitCode(signal));
    stoppedBy = signal;
    ctl.abort(new DOMException(`interrupted by ${signal === "SIGINT" ? "Ctrl-C" : "SIGTERM"}`, "AbortError"));
  });
  try {
    const report = await fetchModels(lock, {
      tier: flags.tier,
      model: flags.model,
      cacheDir: flags.cacheDir,
      verifyOnly: flags.verifyOnly,
      force: flags.force,
      offline: flags.offline || Deno.env.get("BITNET_OFFLINE") === "1",
      signal: ctl.signal,
      onEvent: (e) => renderer.event(e),
    });
    renderer.finish(report);
    return exitCodeFor(report);
  } catch (e) {
    renderer.stop();
    if (ctl.signal.aborted) {
      const msg = `interrupted (${stoppedBy}): the partial download is kept; run the same command again to resume.`;
      if (json) {
        console.log(
          JSON.stringify({ ts: new Date().toISOString(), type: "interrupted", signal: stoppedBy, message: msg }),
        );
      } else console.error(`\n${styleText("yellow", msg)}`);
      return interruptExitCode(stoppedBy);
    }
    throw e;
  }
}
