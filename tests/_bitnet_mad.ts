/**
 * Microsoft's own I2_S code, compiled for the tests: `src/ggml-bitnet-mad.cpp` of the pinned microsoft/BitNet
 * source archive (bitnet.cpp), built standalone into a shared library in the cache, once per archive, shim and
 * compiler. Nothing of Microsoft's is copied into this project: the file is extracted from the archive into a
 * staging folder and compiled there.
 *
 * Two builds, because the file picks its I2_S packing at compile time (`include/gemm-config.h`):
 * - `actParallel`: the header as shipped (`#define ACT_PARALLEL`, the x86 default), whose `quantize_i2_s` writes the
 *   128-weight / 32-byte block layout;
 * - `row1x4`: the same header without that one line (what a user gets by editing it, as `src/README.md` invites),
 *   whose `quantize_i2_s` interleaves 4 rows per byte.
 *
 * The file includes ggml headers of bitnet.cpp's llama.cpp fork, which the archive does not carry (it is a
 * submodule). A shim written here stands in for them with the few declarations the file uses: the I2_S type id,
 * `ggml_row_size` (the fork's I2_S traits: block size 1, type size 1), and C linkage for the functions the fork
 * declares `extern "C"` in its `ggml-quants.h`.
 *
 * Where the archive is: `BITNET_MICROSOFT_SRC` (the `.tar.xz`, or a checkout with `src/ggml-bitnet-mad.cpp`), else
 * `../shared/third_party/microsoft-BitNet-*.tar.xz` beside the project root.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { cacheRoot } from "../lock/cache_dir.ts";

/** The archive the numbers in docs/formats.md were measured with (microsoft/BitNet at commit 16da220). */
export const PINNED_BITNET = {
  commit: "16da220ae2b510caff437d403288882687f44ae5",
  sha256: "b0ca34bc9cd502b659210e3eaaf62d448d9709e54ddcaa5fa867708cf5069078",
} as const;

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");

const SHIM: Record<string, string> = {
  "ggml.h": `#pragma once
#include <stddef.h>
#include <stdint.h>
#define GGML_API __attribute__((visibility("default")))
enum ggml_type { GGML_TYPE_I2_S = 36 };
struct ggml_tensor;
static inline size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void) type; return (size_t) ne; }
`,
  "ggml-backend.h": "#pragma once\n",
  "ggml-cpu-impl.h": "#pragma once\n",
  "ggml-quants.h": `#pragma once
#include <stddef.h>
#include <stdint.h>
#define VEC_DOT(name) void name(int n, float * s, size_t bs, const void * vx, size_t bx, const void * vy, size_t by, int nrc)
extern "C" {
size_t quantize_i2_s(const float * src, void * dst, int64_t nrow, int64_t n_per_row, const float * quant_weights);
VEC_DOT(ggml_vec_dot_i2_i8_s);
VEC_DOT(ggml_vec_dot_i2_i8_s_1x1);
VEC_DOT(ggml_vec_dot_i2_i8_s_1x4_32W);
VEC_DOT(ggml_vec_dot_i2_i8_s_1xN);
VEC_DOT(ggml_vec_dot_i2_i8_s_Nx1);
}
`,
};

const FLAGS = ["-O2", "-mavx2", "-mfma", "-fPIC", "-shared"];

const VEC_DOT = {
  parameters: ["i32", "buffer", "usize", "buffer", "usize", "buffer", "usize", "i32"],
  result: "void",
} as const;

/** The symbols the tests call. */
export const MAD_SYMBOLS = {
  quantize_i2_s: { parameters: ["buffer", "buffer", "i64", "i64", "pointer"], result: "usize" },
  ggml_vec_dot_i2_i8_s: VEC_DOT,
  ggml_vec_dot_i2_i8_s_1x1: VEC_DOT,
  ggml_vec_dot_i2_i8_s_1x4_32W: VEC_DOT,
  ggml_vec_dot_i2_i8_s_1xN: VEC_DOT,
  ggml_vec_dot_i2_i8_s_Nx1: VEC_DOT,
} as const;

/** One compiled build of `ggml-bitnet-mad.cpp`. */
export type MadLibrary = Deno.DynamicLibrary<typeof MAD_SYMBOLS>;

/** Paths of the two builds and where they came from. */
export interface MadBuilds {
  readonly actParallel: string;
  readonly row1x4: string;
  readonly source: string;
  readonly sha256: string;
}

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(
      `Cannot build Microsoft's ggml-bitnet-mad.cpp: "${cmd}" is not runnable (${(e as Error).message}). ` +
        `Install it (apt-get install -y g++ xz-utils).`,
      { cause: e },
    );
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-8).join("\n");
    throw new Error(`Cannot build Microsoft's ggml-bitnet-mad.cpp: "${cmd} ${args.join(" ")}" failed:\n${err}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

async function findSource(): Promise<string> {
  const explicit = Deno.env.get("BITNET_MICROSOFT_SRC");
  if (explicit) return explicit;
  const dir = `${ROOT}/../shared/third_party`;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (/^microsoft-BitNet-.*\.tar\.xz$/.test(e.name)) return `${dir}/${e.name}`;
    }
  } catch {
    // not there: fall through to the error below
  }
  throw new Error(
    `Cannot find Microsoft's BitNet source (bitnet.cpp): no microsoft-BitNet-*.tar.xz in ${dir}. ` +
      `Set BITNET_MICROSOFT_SRC to the archive or to a checkout of github.com/microsoft/BitNet ` +
      `(commit ${PINNED_BITNET.commit}).`,
  );
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  using f = await Deno.open(path);
  for await (const chunk of f.readable) h.update(chunk);
  return h.digest("hex");
}

async function sha256Tree(dir: string): Promise<string> {
  const h = createHash("sha256");
  h.update(await Deno.readFile(`${dir}/src/ggml-bitnet-mad.cpp`));
  for await (const e of Deno.readDir(`${dir}/include`)) {
    if (e.name.endsWith(".h")) h.update(e.name).update(await Deno.readFile(`${dir}/include/${e.name}`));
  }
  return h.digest("hex");
}

function hostHasAvx2(): boolean {
  try {
    return /\bavx2\b/.test(Deno.readTextFileSync("/proc/cpuinfo"));
  } catch {
    return false;
  }
}

/**
 * Build (once) and locate the two builds of Microsoft's `ggml-bitnet-mad.cpp`.
 *
 * @returns Paths of the `ACT_PARALLEL` and row-interleaved builds, and the source's SHA-256.
 * @throws {Error} When the source is missing, is not the pinned archive, or the compiler fails; the message says how
 *   to fix it.
 */
export async function madBuilds(): Promise<MadBuilds> {
  if (!hostHasAvx2()) {
    throw new Error(
      "Cannot run Microsoft's x86 I2_S kernels here: this CPU has no AVX2 (its dot products are AVX2-only).",
    );
  }
  const source = await findSource();
  const isArchive = source.endsWith(".tar.xz");
  const srcHash = isArchive ? await sha256File(source) : await sha256Tree(source);
  if (isArchive && srcHash !== PINNED_BITNET.sha256) {
    throw new Error(
      `Cannot use "${source}": its SHA-256 is ${srcHash}, the pinned microsoft/BitNet archive has ` +
        `${PINNED_BITNET.sha256}. Use the archive of commit ${PINNED_BITNET.commit}, or point BITNET_MICROSOFT_SRC ` +
        `at a checkout.`,
    );
  }
  const compiler = await run("g++", ["--version"], ROOT);
  const key = createHash("sha256").update(srcHash).update(JSON.stringify(SHIM)).update(FLAGS.join(" "))
    .update(compiler.split("\n")[0]).digest("hex").slice(0, 32);
  const root = `${cacheRoot()}/references/microsoft-bitnet-mad`;
  const final = `${root}/${key}`;
  const builds = {
    actParallel: `${final}/libbitnet_mad_act_parallel.so`,
    row1x4: `${final}/libbitnet_mad_row_1x4.so`,
    source,
    sha256: srcHash,
  };
  try {
    await Deno.stat(`${final}/.complete`);
    return builds;
  } catch {
    // not built yet
  }
  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: ".staging-" });
  try {
    let tree = source;
    if (isArchive) {
      await run("tar", ["xJf", source, "--wildcards", "*/src/ggml-bitnet-mad.cpp", "*/include/*.h"], tmp);
      const top = [...Deno.readDirSync(tmp)].find((e) => e.isDirectory);
      if (!top) throw new Error(`Cannot build: "${source}" holds no top-level folder with src/ and include/`);
      tree = `${tmp}/${top.name}`;
    }
    await Deno.mkdir(`${tmp}/shim`);
    for (const [name, text] of Object.entries(SHIM)) await Deno.writeTextFile(`${tmp}/shim/${name}`, text);
    // The row-interleaved build: Microsoft's header minus its `#define ACT_PARALLEL` line, searched first.
    const config = await Deno.readTextFile(`${tree}/include/gemm-config.h`);
    if (!/^#define ACT_PARALLEL\s*$/m.test(config)) {
      throw new Error(`Cannot build the row-interleaved variant: ${tree}/include/gemm-config.h has no ACT_PARALLEL`);
    }
    await Deno.mkdir(`${tmp}/no_act_parallel`);
    await Deno.writeTextFile(
      `${tmp}/no_act_parallel/gemm-config.h`,
      config.replace(/^#define ACT_PARALLEL\s*$/m, ""),
    );
    const mad = `${tree}/src/ggml-bitnet-mad.cpp`;
    const out = `${tmp}/out`;
    await Deno.mkdir(out);
    await run("g++", [
      ...FLAGS,
      "-I",
      "shim",
      "-I",
      `${tree}/include`,
      mad,
      "-o",
      `${out}/libbitnet_mad_act_parallel.so`,
    ], tmp);
    await run(
      "g++",
      [
        ...FLAGS,
        "-I",
        "no_act_parallel",
        "-I",
        "shim",
        "-I",
        `${tree}/include`,
        mad,
        "-o",
        `${out}/libbitnet_mad_row_1x4.so`,
      ],
      tmp,
    );
    await Deno.writeTextFile(`${out}/.complete`, `${source} ${srcHash}\n${compiler.split("\n")[0]}\n`);
    try {
      await Deno.rename(out, final);
    } catch (e) {
      // Another process finished first: its build is the same.
      try {
        await Deno.stat(`${final}/.complete`);
      } catch {
        throw e;
      }
    }
    return builds;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Open one build.
 *
 * @param path A path from {@link madBuilds}.
 * @returns The library; close it when done.
 */
export function openMad(path: string): MadLibrary {
  return Deno.dlopen(path, MAD_SYMBOLS);
}
