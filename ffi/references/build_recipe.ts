/**
 * How a reference is built: CMake flags, targets, and the recipe id that keys the build in the cache. Pure: no I/O.
 * The numbers behind the choices are in docs/references.md ("Build").
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ReferenceLibrary } from "./reference_source.ts";

/** Bump when the steps change in a way the flags do not show (it changes every recipe id). */
export const RECIPE_VERSION = 1;

/** A build recipe. */
export interface BuildRecipe {
  /** CMake `-D` definitions, in order. */
  readonly cmakeDefines: readonly string[];
  /** Targets to build: the libraries only (the driver is compiled separately, `driver_build.ts`). */
  readonly targets: readonly string[];
  /**
   * Fingerprint of the CPU the build is for (`-march=native` makes the libraries unusable on a CPU lacking an
   * instruction they use): part of the id, so a cache shared between different machines keeps one build per CPU.
   */
  readonly cpu: string;
}

/**
 * CMake definitions for a CPU-only, static, libraries-only build.
 *
 * - `BUILD_SHARED_LIBS=OFF`: the driver links the static libraries into one executable that needs no rpath, so the
 *   cache entry can be renamed into place after the build (an rpath would name the temporary folder).
 * - `LLAMA_BUILD_{TESTS,EXAMPLES,SERVER}=OFF`, `LLAMA_CURL=OFF`: only `libllama` and `libggml` are needed.
 * - `GGML_NATIVE=ON` (the default, stated so the record shows it): the machine's own SIMD, as users build it.
 * - ik_llama.cpp: `GGML_IQK_FA_ALL_QUANTS=OFF` drops the flash-attention kernels for quantized KV caches, which
 *   parity (F32 cache, no flash attention) never runs; `GGML_IQK_FLASH_ATTENTION=OFF` would save more but does not
 *   link at the pinned commit (docs/references.md).
 *
 * @param library Code base.
 * @returns The definitions.
 * @example
 * ```ts
 * import { cmakeDefines } from "./build_recipe.ts";
 * console.log(cmakeDefines("ik_llama.cpp").includes("-DGGML_IQK_FA_ALL_QUANTS=OFF")); // true
 * ```
 */
export function cmakeDefines(library: ReferenceLibrary): string[] {
  const common = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_CURL=OFF",
    "-DGGML_NATIVE=ON",
  ];
  switch (library) {
    case "ik_llama.cpp":
      return [...common, "-DGGML_IQK_FA_ALL_QUANTS=OFF"];
    case "bitnet.cpp":
      // bitnet.cpp's top-level CMakeLists forces LLAMA_BUILD_SERVER ON; building only the llama target skips it.
      return [...common, "-DBITNET_X86_TL2=OFF", "-DBITNET_ARM_TL1=OFF"];
    case "llama.cpp":
      return [...common, "-DLLAMA_BUILD_COMMON=OFF", "-DGGML_BACKEND_DL=OFF"];
  }
}

/**
 * The recipe for a code base on a CPU.
 *
 * @param library Code base.
 * @param cpu CPU fingerprint ({@link cpuFingerprint}).
 * @returns The recipe.
 */
export function recipeFor(library: ReferenceLibrary, cpu: string): BuildRecipe {
  return { cmakeDefines: cmakeDefines(library), targets: ["llama"], cpu };
}

/**
 * Stable id of a recipe (12 hex digits of a SHA-256 over its fields and {@link RECIPE_VERSION}).
 *
 * @param recipe The recipe.
 * @returns The id.
 * @example
 * ```ts
 * import { recipeFor, recipeId } from "./build_recipe.ts";
 * console.log(recipeId(recipeFor("ik_llama.cpp", "x86_64 avx2")).length); // 12
 * ```
 */
export function recipeId(recipe: BuildRecipe): string {
  const text = JSON.stringify({ v: RECIPE_VERSION, d: recipe.cmakeDefines, t: recipe.targets, c: recipe.cpu });
  return createHash("sha256").update(text).digest("hex").slice(0, 12);
}

/**
 * A CPU fingerprint from `/proc/cpuinfo` text: architecture, model name and the sorted feature flags.
 *
 * @param cpuinfo Contents of `/proc/cpuinfo` (or `""` where there is none).
 * @param arch `Deno.build.arch`.
 * @returns `arch|model|sha256(flags)[0..16]`.
 * @example
 * ```ts
 * import { cpuFingerprint } from "./build_recipe.ts";
 * console.log(cpuFingerprint("model name\t: X\nflags\t\t: sse avx\n", "x86_64").startsWith("x86_64|X|")); // true
 * ```
 */
export function cpuFingerprint(cpuinfo: string, arch: string): string {
  const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, "m").exec(cpuinfo)?.[1]?.trim() ?? "";
  const flags = (field("flags") || field("Features")).split(/\s+/).filter(Boolean).sort().join(" ");
  const model = field("model name") || field("CPU part");
  return `${arch}|${model}|${createHash("sha256").update(flags).digest("hex").slice(0, 16)}`;
}
