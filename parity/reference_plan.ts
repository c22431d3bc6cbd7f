/**
 * Which C++ reference a parity run compares with, and how the model is handed to it (docs/references.md, "Reference
 * choice"):
 *
 * - {@link selectReference}: `--reference llama.cpp|ik_llama|<path>`, default by architecture: `bitnet` and `llama`
 *   go to the pinned llama.cpp, `bitnet-b1.58` to ik_llama.cpp (the pinned llama.cpp has no such architecture and its
 *   `bitnet` graph computes SiLU where 2B4T needs squared ReLU).
 * - {@link prepareReference}: build or find the reference (ik_llama.cpp from its pinned archive, once per machine;
 *   a user's checkout or build directory), guard the model with `computeSupport` (a format the reference cannot
 *   compute is refused by name, never handed over: ik_llama.cpp computes garbage on raw I2_S and dies on TQ2_0),
 *   transcode it losslessly where the guard says that removes the problem (to F32, or to ik_llama.cpp's own IQ2_BN),
 *   prove the transcode element for element, cache it by the source's SHA-256 and the method, and start the
 *   reference process. The result says what our engine must do to compare like with like (float activations
 *   against an F32 reference) and which calibrated gates apply.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  cachedReferenceBuild,
  type ComputeSupport,
  computeSupport,
  ensureDriver,
  ensureReferenceBuild,
  PINNED_IK_LLAMA,
  type ReferenceBuild,
  type ReferenceBuildEvent,
  type ReferenceDriver,
  ReferenceSourceError,
  type TensorDesc,
} from "../ffi/references/mod.ts";
import { archiveSource, checkoutSource, ikSourceFromEnv } from "../ffi/references/reference_source.ts";
import { ReferenceProcess, type ReferenceProcessOptions } from "../ffi/ref_process.ts";
import { compareWeights } from "../engine/convert/lossless.ts";
import { TRANSCODE_METHOD, transcodeToFloat } from "../engine/convert/transcode_float.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import { quantFormat } from "../engine/quant/formats.ts";
import { ggmlTypeName } from "../engine/quant/ggml_type.ts";
import type { ActivationPrecision } from "../engine/backends/activation_precision.ts";
import type { NumericsProfile } from "../engine/backends/type_kernels.ts";
import { cacheRoot } from "../lock/cache_dir.ts";
import { sha256File } from "../lock/sha256.ts";
import { gatesFor } from "../receipts/parity_gates.ts";
import type {
  ParityThresholds,
  ReferenceInputJson,
  ReferenceLibraryName,
  ReferenceSelectionJson,
  TranscodeJson,
} from "../receipts/parity_receipt.ts";
import type { GraphDialect } from "./graph_names.ts";

/** The `--reference` values that name a reference (anything else is a path). */
export const REFERENCE_NAMES = ["llama.cpp", "ik_llama"] as const;

/** What `--reference` selects. */
export interface ReferenceSelection {
  /** The pinned llama.cpp, ik_llama.cpp built from its pinned archive (or `BITNET_CPP_DIR`), or a path. */
  readonly kind: "llama.cpp" | "ik_llama" | "path";
  /** The path, for `path`. */
  readonly path?: string;
  /** For the receipt: the value in effect and whether the user chose it. */
  readonly json: ReferenceSelectionJson;
}

/** The input format of ik_llama.cpp: the lossless F32 transcode (default) or its own IQ2_BN requantization. */
export type IkInputFormat = "f32" | "iq2_bn";

/** The reference cannot compute the model: why, and what to do instead (the run is `not_run`, exit 2). */
export class ReferenceUnsupportedError extends Error {
  /** An environment problem, not a failed check: the CLI exits 2. */
  readonly exitCode = 2;
  /** The guard's verdict. */
  readonly support: ComputeSupport | null;
  /** Creates the error. */
  constructor(message: string, support: ComputeSupport | null = null) {
    super(message);
    this.name = "ReferenceUnsupportedError";
    this.support = support;
  }
}

/**
 * The reference for a model.
 *
 * @param flag `--reference` (`llama.cpp`, `ik_llama`, or a path), or undefined for the default.
 * @param arch The model's `general.architecture`.
 * @returns The selection.
 * @example
 * ```ts
 * import { selectReference } from "./reference_plan.ts";
 * console.log(selectReference(undefined, "bitnet-b1.58").kind, selectReference(undefined, "bitnet").kind); // ik_llama llama.cpp
 * console.log(selectReference("llama.cpp", "bitnet-b1.58").json); // { flag: "llama.cpp", by: "flag" }
 * ```
 */
export function selectReference(flag: string | undefined, arch: string): ReferenceSelection {
  if (flag === undefined || flag === "") {
    const kind = arch === "bitnet-b1.58" ? "ik_llama" : "llama.cpp";
    return { kind, json: { flag: kind, by: "architecture" } };
  }
  if (flag === "llama.cpp" || flag === "ik_llama") return { kind: flag, json: { flag, by: "flag" } };
  return { kind: "path", path: flag, json: { flag, by: "flag" } };
}

/** What {@link prepareReference} needs to know about the model. */
export interface ModelForReference {
  /** GGUF path. */
  readonly path: string;
  /** Its SHA-256 (the transcode cache key). */
  readonly sha256: string;
  /** `general.architecture`. */
  readonly arch: string;
  /** Its tensors (name, type id, shape). */
  readonly tensors: readonly TensorDesc[];
}

/** Options of {@link prepareReference}. */
export interface PrepareReferenceOptions {
  /** ik_llama.cpp's input (default `f32`). */
  readonly ikFormat?: IkInputFormat;
  /** Process options (memory limit, deadlines, stderr listener) for the reference process. */
  readonly process?: ReferenceProcessOptions;
  /** Build progress (the first ik_llama.cpp build takes minutes). */
  readonly onBuildEvent?: (e: ReferenceBuildEvent) => void;
  /** Cache root (default `cacheRoot()`). */
  readonly cacheDir?: string;
  /** A process of the pinned llama.cpp already started (the CLI starts one early); used when that is the choice. */
  readonly spawned?: Promise<ReferenceProcess>;
  /** Our engine's kernel set, which with the reference decides the gates (default `exact`). */
  readonly numerics?: NumericsProfile;
}

/** A reference ready to run: its process, the file it loads, and how to compare with it. */
export interface PreparedReference {
  /** The selection. */
  readonly selection: ReferenceSelection;
  /** The library, for the receipt. */
  readonly library: ReferenceLibraryName;
  /** The running process (the run takes it over and closes it). */
  readonly process: ReferenceProcess;
  /** The file the reference loads: the model, or its transcode. */
  readonly modelPath: string;
  /** The input block of the receipt (null when the reference runs the model itself). */
  readonly input: ReferenceInputJson | null;
  /** Our engine's activation precision for this comparison. */
  readonly activations: ActivationPrecision;
  /** The calibrated gates of this comparison. */
  readonly thresholds: ParityThresholds;
  /** How the reference names its graph nodes. */
  readonly dialect: GraphDialect;
  /** How the library was built, when known. */
  readonly buildFlags: string | null;
}

const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};

/** LLAMA_FTYPE_MOSTLY_IQ2_BN in ik_llama.cpp's `llama.h`. */
const FTYPE_IQ2_BN = 137;

/**
 * Build or find the reference, guard and transcode the model, start the process.
 *
 * @param sel The selection.
 * @param model Path, SHA-256, architecture, tensors.
 * @param opts ik_llama.cpp's input format, process options, build events, cache root.
 * @returns The prepared reference; close `process` when done.
 * @throws {ReferenceUnsupportedError} When the reference cannot compute the model and no lossless transcode helps;
 *   the message names why (architecture, type, shape) and the fix.
 * @throws {ReferenceBuildError} / {ReferenceSourceError} When ik_llama.cpp cannot be built or found.
 * @throws {LibraryLoadError} When the pinned llama.cpp library cannot be loaded.
 */
export async function prepareReference(
  sel: ReferenceSelection,
  model: ModelForReference,
  opts: PrepareReferenceOptions = {},
): Promise<PreparedReference> {
  const numerics = opts.numerics ?? "exact";
  const base = {
    selection: sel,
    modelPath: model.path,
    input: null,
    activations: "int8" as const,
    buildFlags: null,
  };
  if (sel.kind === "llama.cpp" || (sel.kind === "path" && isLlamaCppBuildDir(sel.path!))) {
    const cppDir = sel.kind === "path" ? sel.path : undefined;
    if (sel.kind === "llama.cpp") refuseUnless(computeSupport("llama.cpp", model), model.path);
    const process = sel.kind === "llama.cpp" && opts.spawned
      ? await opts.spawned
      : await ReferenceProcess.spawn({ ...opts.process, ...(cppDir ? { cppDir } : {}) });
    return {
      ...base,
      library: cppDir ? "custom" : "llama.cpp",
      process,
      thresholds: gatesFor({ library: "llama.cpp", input: null, activations: "int8", numerics })!,
      dialect: "llama.cpp",
    };
  }
  const driver = await driverFor(sel, opts);
  const library: ReferenceLibraryName = driver.build.manifest.library === "ik_llama.cpp" ? "ik_llama.cpp" : "custom";
  const buildFlags = driver.identity.build_flags ?? null;
  const process = await ReferenceProcess.spawn({ ...opts.process, driver: { cmd: driver.path, args: [] } });
  try {
    if (library !== "ik_llama.cpp") {
      // A bitnet.cpp or llama.cpp checkout built by us: nothing measured about it, so nothing guarded or transcoded.
      return {
        ...base,
        library,
        process,
        buildFlags,
        thresholds: gatesFor({ library: "llama.cpp", input: null, activations: "int8", numerics })!,
        dialect: "llama.cpp",
      };
    }
    const support = computeSupport("ik_llama.cpp", model);
    if (support.ok) {
      const thresholds = gatesFor({ library, input: null, activations: "int8", numerics });
      if (!thresholds) throw uncalibrated(model.path, "the model as it is");
      return { ...base, library, process, buildFlags, thresholds, dialect: "ik_llama.cpp" };
    }
    refuseUnless(support, model.path, true);
    const format = opts.ikFormat ?? "f32";
    const cacheDir = opts.cacheDir ?? cacheRoot();
    const { path, transcode } = format === "f32"
      ? await cachedFloatTranscode(model, cacheDir)
      : await cachedIq2Bn(model, support, process, driver, cacheDir);
    const input: ReferenceInputJson = {
      path,
      sha256: transcode.sha256,
      weight_types: [format === "f32" ? "F32" : "IQ2_BN"],
      transcode,
    };
    const activations: ActivationPrecision = format === "f32" ? "float" : "int8";
    const thresholds = gatesFor({ library, input: format, activations, numerics })!;
    return {
      ...base,
      library,
      process,
      modelPath: path,
      input,
      activations,
      buildFlags,
      thresholds,
      dialect: "ik_llama.cpp",
    };
  } catch (e) {
    await process.close();
    throw e;
  }
}

/** True when `dir` holds a llama.cpp shared library build (what the Deno driver loads through `cpp_dir`). */
function isLlamaCppBuildDir(dir: string): boolean {
  try {
    for (const e of Deno.readDirSync(dir)) if (/^libllama\.(so|dylib)/.test(e.name)) return true;
  } catch {
    // not a directory
  }
  return exists(`${dir}/lib/libllama.so`) || exists(`${dir}/bin/libllama.so`);
}

/** The compiled driver of the selected source (the pinned archive, `BITNET_CPP_DIR`, or a checkout path). */
async function driverFor(sel: ReferenceSelection, opts: PrepareReferenceOptions): Promise<ReferenceDriver> {
  let source;
  if (sel.kind === "ik_llama") {
    try {
      source = await ikSourceFromEnv();
    } catch (e) {
      // Outside a source tree (an installed package, a compiled binary) the archive is not at hand, but the build
      // made from it once on this machine is: the cache is keyed by the pinned archive's SHA-256.
      // Only when the user named no source: a wrong BITNET_IK_ARCHIVE or BITNET_CPP_DIR is reported as it is.
      const named = Deno.env.get(PINNED_IK_LLAMA.env) || Deno.env.get("BITNET_CPP_DIR");
      const built = e instanceof ReferenceSourceError && !named ? await pinnedBuildInCache(opts.cacheDir) : null;
      if (!built) throw e;
      return await ensureDriver(built, opts.onBuildEvent ? { onEvent: opts.onBuildEvent } : {});
    }
  } else if (exists(`${sel.path}/CMakeLists.txt`)) source = await checkoutSource(sel.path!);
  else if (/\.tar(\.xz|\.gz)?$/.test(sel.path!) && exists(sel.path!)) source = await archiveSource(sel.path!);
  else {
    throw new ReferenceUnsupportedError(
      `Cannot use --reference ${sel.path}: it is neither a llama.cpp build directory (with libllama.so), nor an ` +
        `ik_llama.cpp, llama.cpp or bitnet.cpp source checkout (with CMakeLists.txt), nor a source archive. ` +
        `Fix: --reference llama.cpp, --reference ik_llama, or the path of one of those.`,
    );
  }
  const cacheDir = opts.cacheDir;
  const build = await ensureReferenceBuild(source, {
    ...(cacheDir ? { cacheDir } : {}),
    ...(opts.onBuildEvent ? { onEvent: opts.onBuildEvent } : {}),
  });
  return await ensureDriver(build, opts.onBuildEvent ? { onEvent: opts.onBuildEvent } : {});
}

/** The finished build of the pinned ik_llama.cpp archive in the cache, found by the archive's known SHA-256. */
async function pinnedBuildInCache(cacheDir?: string): Promise<ReferenceBuild | null> {
  const pinned = {
    kind: "archive",
    library: "ik_llama.cpp",
    path: PINNED_IK_LLAMA.archive,
    sha256: PINNED_IK_LLAMA.sha256,
    commit: PINNED_IK_LLAMA.commit,
  } as const;
  return await cachedReferenceBuild(pinned, cacheDir ? { cacheDir } : {});
}

/** Throw the guard's verdict as a {@link ReferenceUnsupportedError} unless it is ok (or transcodable, if allowed). */
function refuseUnless(v: ComputeSupport, path: string, allowTranscode = false): void {
  if (v.ok || (allowTranscode && v.transcodable)) return;
  // The conversion the guard names generically, spelled out for this file.
  const out = path.replace(/(\.gguf)?$/i, "-tq2_0.gguf");
  const lines = v.problems.map((p) =>
    `- ${p.reason}. Fix: ${
      p.fix.replace("crossval convert IN --to tq2_0 --out OUT", `crossval convert ${path} --to tq2_0 --out ${out}`)
    }.`
  );
  throw new ReferenceUnsupportedError(`${v.reference} cannot compute "${path}":\n${lines.join("\n")}`, v);
}

function uncalibrated(path: string, what: string): ReferenceUnsupportedError {
  return new ReferenceUnsupportedError(
    `ik_llama.cpp would run "${path}" as ${what}, and no parity gates are calibrated for that comparison. ` +
      `Fix: give it an I2_S, TQ1_0 or TQ2_0 model (parity transcodes it losslessly to F32).`,
  );
}

/** A cache entry `<cache>/transcodes/<source sha256>-<method hash>/` with `model.gguf` and `transcode.json`. */
function entryDir(cacheDir: string, sourceSha: string, method: string): string {
  const m = createHash("sha256").update(method).digest("hex").slice(0, 12);
  return `${cacheDir}/transcodes/${sourceSha}-${m}`;
}

/** A finished entry, or null (no entry, or one whose record does not match its file's hash). */
async function readEntry(dir: string): Promise<{ path: string; transcode: TranscodeJson } | null> {
  try {
    const rec = JSON.parse(await Deno.readTextFile(`${dir}/transcode.json`)) as TranscodeJson;
    const st = await Deno.stat(`${dir}/model.gguf`);
    if (!st.isFile || !rec.verified?.equal) return null;
    return { path: `${dir}/model.gguf`, transcode: { ...rec, cached: true } };
  } catch {
    return null;
  }
}

/**
 * Write an entry atomically: everything in a staging folder beside it, renamed into place. A concurrent writer that
 * wins the rename leaves ours to be removed; the entry is theirs and equal (same source, same method).
 */
async function writeEntry(
  dir: string,
  make: (out: string) => Promise<Omit<TranscodeJson, "cached">>,
): Promise<{ path: string; transcode: TranscodeJson }> {
  const root = dir.slice(0, dir.lastIndexOf("/"));
  await Deno.mkdir(root, { recursive: true });
  const staging = await Deno.makeTempDir({ dir: root, prefix: ".staging-" });
  try {
    const rec = await make(`${staging}/model.gguf`);
    await Deno.writeTextFile(`${staging}/transcode.json`, JSON.stringify(rec, null, 2) + "\n");
    try {
      await Deno.rename(staging, dir);
    } catch (e) {
      const done = await readEntry(dir);
      if (!done) throw e;
      return done;
    }
    return { path: `${dir}/model.gguf`, transcode: { ...rec, cached: false } };
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/** The F32 transcode of the model, proved equal element for element to its dequantized weights (cached). */
async function cachedFloatTranscode(
  model: ModelForReference,
  cacheDir: string,
): Promise<{ path: string; transcode: TranscodeJson }> {
  const dir = entryDir(cacheDir, model.sha256, TRANSCODE_METHOD + " f32");
  return await readEntry(dir) ?? await writeEntry(dir, async (out) => {
    const rec = await transcodeToFloat(model.path, out, { to: "f32" });
    // The proof: every weight of the transcode equals the source's dequantized weight, as numbers.
    const cmp = compareWeights(model.path, out);
    if (!cmp.ok) {
      throw new Error(`The F32 transcode of "${model.path}" is not lossless: ${cmp.problems.slice(0, 3).join("; ")}`);
    }
    return {
      kind: "float",
      to: "f32",
      from_types: rec.from_types,
      n_tensors: rec.tensors.length,
      method: rec.method,
      sha256: rec.sha256!,
      source_sha256: model.sha256,
      verified: { by: "crossval compareWeights (engine/convert/lossless.ts)", ...counts(cmp), equal: true },
    };
  });
}

function counts(c: { tensors: number; elements: number }): { tensors: number; elements: number } {
  return { tensors: c.tensors, elements: c.elements };
}

/**
 * ik_llama.cpp's own IQ2_BN requantization of the model (`llama_model_quantize`, ftype 137), proved equal to the
 * model's dequantized weights element for element by ik_llama.cpp's own IQ2_BN dequantizer (cached). Rows shorter
 * than 512 weights are refused by name (its Q8_K64 activation quantizer asserts on them).
 */
async function cachedIq2Bn(
  model: ModelForReference,
  support: ComputeSupport,
  process: ReferenceProcess,
  driver: ReferenceDriver,
  cacheDir: string,
): Promise<{ path: string; transcode: TranscodeJson }> {
  const rewritten = new Set(support.transcodeTensors);
  const ternary = model.tensors.filter((t) => rewritten.has(t.name));
  const short = ternary.filter((t) => (t.shape[0] ?? 0) < 512 || (t.shape[0] ?? 0) % 64 !== 0);
  if (short.length) {
    throw new ReferenceUnsupportedError(
      `ik_llama.cpp cannot compute "${model.path}" as IQ2_BN: ${short.length} tensor(s) have rows of fewer than 512 ` +
        `weights (${short[0].name}: ${short[0].shape[0]}); its IQ2_BN matmul quantizes activations to Q8_K64, which ` +
        `asserts k >= 512 (GGML_ASSERT(k >= 8*QK_IQ1BN)). Fix: --ik-format f32 (the lossless F32 transcode runs any ` +
        `row length).`,
    );
  }
  const commit = driver.identity.commit ?? "";
  const method = `ik_llama.cpp ${commit.slice(0, 9)} llama_model_quantize ftype=${FTYPE_IQ2_BN} (IQ2_BN)`;
  const dir = entryDir(cacheDir, model.sha256, method);
  return await readEntry(dir) ?? await writeEntry(dir, async (out) => {
    await process.request("quantize", { path: abs(model.path), out, ftype: FTYPE_IQ2_BN, threads: 2 });
    using src = GgufFile.open(model.path);
    let elements = 0;
    const fromTypes: Record<string, number> = {};
    for (const t of ternary) {
      const info = src.tensor(t.name)!;
      const ours = new Float32Array(info.nElements);
      quantFormat(info.type).dequantize(src.readTensor(t.name), ours);
      const r = await process.request("dequantize", { path: out, tensor: t.name });
      if (r.header.type !== "iq2_bn") {
        throw new Error(`ik_llama.cpp wrote ${t.name} of "${model.path}" as ${r.header.type}, not IQ2_BN`);
      }
      const theirs = new Float32Array(r.payload.slice().buffer);
      const a = new Uint32Array(ours.buffer), b = new Uint32Array(theirs.buffer);
      if (a.length !== b.length) throw new Error(`IQ2_BN ${t.name}: ${b.length} values, expected ${a.length}`);
      for (let i = 0; i < a.length; i++) {
        if (a[i] !== b[i]) {
          throw new Error(
            `ik_llama.cpp's IQ2_BN requantization of "${model.path}" is not lossless: ${t.name} element ${i} is ` +
              `${theirs[i]}, the model's weight is ${ours[i]}. Fix: --ik-format f32`,
          );
        }
      }
      elements += a.length;
      const name = ggmlTypeName(info.type);
      fromTypes[name] = (fromTypes[name] ?? 0) + 1;
    }
    return {
      kind: "requantize",
      to: "iq2_bn",
      from_types: fromTypes,
      n_tensors: ternary.length,
      method,
      sha256: await sha256File(out),
      source_sha256: model.sha256,
      verified: {
        by: "ik_llama.cpp dequantize (its IQ2_BN to_float) against ours",
        tensors: ternary.length,
        elements,
        equal: true,
      },
    };
  });
}

function abs(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}
