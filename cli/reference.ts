/**
 * `crossval reference build`: build a C++ reference from source into the cache (once per machine) and compile the
 * protocol driver against it. Renders `ffi/references/` build events as a progress bar on a TTY, or one JSON object
 * per line otherwise.
 *
 * @module
 */

import process from "node:process";
import { styleText } from "node:util";
import {
  archiveSource,
  checkoutSource,
  ensureDriver,
  ensureReferenceBuild,
  ikSourceFromEnv,
  type ReferenceBuildEvent,
  type ReferenceSource,
} from "../ffi/references/mod.ts";
import { UsageError } from "./_errors.ts";

/** Flags of `reference build`. */
export interface ReferenceBuildFlags {
  /** A source archive or a checkout (default: BITNET_CPP_DIR when it is an ik_llama.cpp/bitnet.cpp tree, else the
   * pinned ik_llama.cpp archive). */
  source?: string;
  /** Parallel jobs (checked against `RANGES.jobs` by the option's parser). */
  jobs?: number;
  /** NDJSON events and a final JSON line. */
  json?: boolean;
}

/** Renders events: a bar on a TTY, NDJSON otherwise. */
export function buildEventRenderer(json: boolean): { event(e: ReferenceBuildEvent): void; stop(): void } {
  if (json) {
    return { event: (e) => console.log(JSON.stringify({ ts: new Date().toISOString(), ...e })), stop: () => {} };
  }
  // deno-lint-ignore no-explicit-any
  let bar: any = null;
  let loading = false;
  const load = () => {
    if (loading || !Deno.stderr.isTerminal()) return;
    loading = true;
    import("cli-progress").then(({ default: cliProgress }) => {
      bar = new cliProgress.SingleBar({
        format: " build |{bar}| {value}/{total} {current} ETA {eta_s}",
        stream: process.stderr,
        hideCursor: true,
        barsize: 30,
        barCompleteChar: "\u2588",
        barIncompleteChar: "\u2591",
        fps: 5,
      });
    }, () => {});
  };
  let started = false;
  const note = (s: string) => {
    if (bar && started) bar.stop(), started = false;
    console.error(s);
  };
  return {
    event(e) {
      switch (e.type) {
        case "start":
          load();
          note(`${styleText("cyan", "build")} ${e.library} from ${e.from} (${e.source}) into ${e.dir}`);
          break;
        case "lock":
          note(`${styleText("yellow", "lock")} ${e.message}`);
          break;
        case "phase":
          note(`${styleText("cyan", e.phase)} ${e.message}`);
          break;
        case "progress": {
          const eta = e.eta_s === null ? "--" : `${Math.ceil(e.eta_s)}s`;
          if (bar && !started) {
            bar.start(e.steps_total, e.steps_done, { current: e.current, eta_s: eta }), started = true;
          } else if (bar) bar.update(e.steps_done, { current: e.current.slice(-40), eta_s: eta });
          else if (!Deno.stderr.isTerminal()) console.error(`  [${e.steps_done}/${e.steps_total}] ${e.current}`);
          break;
        }
        case "cached":
          note(`${styleText("green", "cached")} ${e.what} ${e.dir}`);
          break;
        case "done":
          note(`${styleText("green", "built")} ${e.what} in ${e.seconds.toFixed(1)} s: ${e.dir}`);
          break;
      }
    },
    stop: () => bar?.stop(),
  };
}

async function sourceOf(flag: string | undefined): Promise<ReferenceSource> {
  if (!flag) return await ikSourceFromEnv();
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(flag);
  } catch {
    throw new UsageError(
      `Cannot build a reference from "${flag}": no such file or folder. Give an archive or a checkout.`,
    );
  }
  return info.isDirectory ? await checkoutSource(flag) : await archiveSource(flag);
}

/**
 * Run `reference build`.
 *
 * @param flags Parsed flags.
 * @returns The exit code (0 built or cached; build failures throw and exit 2).
 */
export async function referenceBuildCommand(flags: ReferenceBuildFlags): Promise<number> {
  const jobs = flags.jobs;
  const json = flags.json === true || !Deno.stdout.isTerminal();
  const r = buildEventRenderer(json);
  const ctl = new AbortController();
  const onSigint = () => ctl.abort(new DOMException("interrupted by Ctrl-C", "AbortError"));
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    const source = await sourceOf(flags.source);
    const build = await ensureReferenceBuild(source, { jobs, onEvent: (e) => r.event(e), signal: ctl.signal });
    const driver = await ensureDriver(build, { onEvent: (e) => r.event(e), signal: ctl.signal });
    r.stop();
    const result = {
      type: "result",
      library: build.manifest.library,
      key: build.manifest.key,
      commit: driver.identity.commit,
      build_flags: driver.identity.build_flags,
      driver: driver.path,
      build_dir: build.dir,
      build_seconds: build.manifest.seconds,
    };
    if (json) console.log(JSON.stringify(result));
    else {
      console.log(`${styleText("green", "✓")} ${result.library} ${result.commit || "(commit unknown)"}`);
      console.log(`    driver ${result.driver}`);
      console.log(`    built in ${result.build_seconds.total.toFixed(1)} s (${result.build_dir})`);
    }
    return 0;
  } catch (e) {
    r.stop();
    if (ctl.signal.aborted) {
      console.error("interrupted: nothing was added to the cache; run the same command again to build.");
      return 130;
    }
    throw e;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}
