/**
 * `deno task compile [--output dist/crossval]`: build the single `crossval` binary with `deno compile`.
 *
 * What goes in (docs/adr/0008-single-binary.md): the whole CLI module graph (every command adapter is a static
 * `import("./x.ts")`), the committed kernel modules and the worker pool's module (loaded by URL, so they are named
 * with `--include`), the default lockfile and the committed baseline. What stays out: the pinned llama.cpp libraries
 * (29 MB). They must be real files for `dlopen` and for ggml's own backend loader (`ggml_backend_load_all_from_path`
 * reads a directory), so the binary finds them on disk the way the source tree does: `BITNET_CPP_DIR`, or the npm
 * package `@node-llama-cpp/linux-x64@3.22.1` in a `node_modules` directory (ffi/library.ts `findLlamaNpmPackage`).
 *
 * `deno compile` writes the program into `denort`, Deno's runtime-only binary, which it downloads once per version
 * from dl.deno.land (or takes from `DENORT_BIN`). The full `deno` binary cannot stand in for it: it does not run an
 * embedded program. Where dl.deno.land is unreachable, this script stops with exit 2 and says how to provide one.
 *
 * @module
 */

/** Files embedded besides the module graph, relative to the repository root. */
export const COMPILE_INCLUDES: readonly string[] = [
  "kernels-wasm/kernels.wasm",
  "kernels-wasm/kernels_relaxed.wasm",
  "kernels-wasm/worker.ts",
  "crossval-models.lock.json",
  "docs/baselines/latest-cpu.json",
];

/** Embedded-graph paths left out: the llama.cpp shared libraries of the npm package (its 2.7 KB of JS stays). */
export const COMPILE_EXCLUDES: readonly string[] = [
  "node_modules/.deno/@node-llama-cpp+linux-x64@3.22.1/node_modules/@node-llama-cpp/linux-x64/bins",
];

/** The repository root (where `deno.json` is). */
export const REPO_ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");

/**
 * Arguments of `deno compile` for the binary.
 *
 * @param output Output path of the binary.
 * @returns Arguments after the `deno` executable.
 */
export function compileArgs(output: string): string[] {
  return [
    "compile",
    "-A",
    "--config",
    `${REPO_ROOT}/deno.json`,
    ...COMPILE_INCLUDES.flatMap((p) => ["--include", `${REPO_ROOT}/${p}`]),
    ...COMPILE_EXCLUDES.flatMap((p) => ["--exclude", `${REPO_ROOT}/${p}`]),
    "--output",
    output,
    `${REPO_ROOT}/cli/main.ts`,
  ];
}

/** Where `deno compile` will get its runtime base (`denort`) from. */
export type DenortSource =
  | { readonly kind: "env"; readonly path: string }
  | { readonly kind: "cache"; readonly path: string }
  | { readonly kind: "download"; readonly url: string }
  | { readonly kind: "unavailable"; readonly reason: string };

/** The `denort` archive `deno compile` downloads for this Deno version and platform. */
export function denortUrl(): string {
  return `https://dl.deno.land/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
}

async function denoDir(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped", stderr: "null" })
      .output();
    return out.success ? JSON.parse(new TextDecoder().decode(out.stdout)).denoDir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Find out whether `deno compile` can get `denort` here: `DENORT_BIN`, Deno's download cache, or dl.deno.land.
 *
 * @param opts.timeoutMs How long to wait for dl.deno.land (default 10 s).
 * @returns The source, or `unavailable` with the reason.
 */
export async function denortSource(opts: { timeoutMs?: number } = {}): Promise<DenortSource> {
  const env = Deno.env.get("DENORT_BIN");
  if (env) {
    try {
      if (Deno.statSync(env).isFile) return { kind: "env", path: env };
    } catch {
      // reported below
    }
    return { kind: "unavailable", reason: `DENORT_BIN="${env}" is not a file` };
  }
  const dir = await denoDir();
  const cached = dir && `${dir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  if (cached) {
    try {
      if (Deno.statSync(cached).isFile) return { kind: "cache", path: cached };
    } catch {
      // not downloaded yet
    }
  }
  const url = denortUrl();
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000) });
    await res.body?.cancel();
    if (res.ok) return { kind: "download", url };
    return { kind: "unavailable", reason: `${url} answered HTTP ${res.status}` };
  } catch (e) {
    const cause = (e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message;
    return { kind: "unavailable", reason: `${url} is unreachable (${cause.replace(/^.*: (?=[^:]+: [^:]+$)/, "")})` };
  }
}

/** What to do when `denort` cannot be had. */
export function denortFix(reason: string): string {
  return `Cannot build the crossval binary: deno compile needs denort ${Deno.version.deno} for ${Deno.build.target}, ` +
    `and ${reason}. The full deno binary cannot replace it (it does not run an embedded program), and no npm ` +
    `package ships it. Fix: on a machine that reaches dl.deno.land run deno task compile once (Deno caches ` +
    `denort under DENO_DIR/dl), or download ${denortUrl()}, unzip it and set DENORT_BIN=/path/to/denort.`;
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--output");
  const output = i >= 0 && Deno.args[i + 1] ? Deno.args[i + 1] : `${REPO_ROOT}/dist/crossval`;
  const src = await denortSource();
  if (src.kind === "unavailable") {
    console.error(`error: ${denortFix(src.reason)}`);
    Deno.exit(2);
  }
  console.error(`denort: ${src.kind === "download" ? src.url : src.path} (${src.kind})`);
  const r = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(output),
    cwd: REPO_ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!r.success) Deno.exit(r.code || 1);
  const size = Deno.statSync(output).size;
  console.error(
    `built ${output} (${(size / 2 ** 20).toFixed(1)} MiB). It runs without Deno; for parity and benchmarks it needs ` +
      `llama.cpp on disk: npm i @node-llama-cpp/linux-x64@3.22.1 in the working directory, or BITNET_CPP_DIR.`,
  );
}
