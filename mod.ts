/**
 * bitnet-crossval: run BitNet b1.58 ternary models with our own engine and prove it against llama.cpp.
 *
 * The library surface, by folder: GGUF and quant formats, synthetic models and the model manifest (`engine/`),
 * the llama.cpp bridge (`ffi/`), the model fetcher (`lock/`), and receipt provenance (`receipts/`).
 *
 * @example Describe a generated model
 * ```ts
 * import { GgufFile, writeSyntheticModel } from "@bitnet/crossval";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using f = GgufFile.open(path);
 * console.log(f.architecture); // "bitnet"
 * ```
 *
 * @module
 */

export * from "./engine/gguf/mod.ts";
export * from "./engine/quant/mod.ts";
export * from "./engine/synth/mod.ts";
export * from "./engine/model/config.ts";
export * from "./engine/model/manifest.ts";
export * from "./ffi/mod.ts";
export * from "./lock/mod.ts";
export * from "./receipts/provenance.ts";
