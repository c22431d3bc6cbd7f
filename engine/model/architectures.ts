/**
 * The architecture registry: `general.architecture` -> hyperparameters, tensor manifest and forward graph (one
 * file per architecture, as llama.cpp's `src/models/<arch>.cpp`), plus what the pinned stock llama.cpp makes of
 * it. Adding an architecture is one new file and one row here (docs/adr/0009-adding-an-architecture.md).
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import type { GgufTensorInfo } from "../gguf/types.ts";
import type { KernelBackend } from "../backends/backend.ts";
import { GgmlType } from "../quant/ggml_type.ts";
import { bitnetHparams, bitnetManifest, BitnetModel } from "./bitnet.ts";
import type { ArchName, FfnActivation, ModelConfig } from "./config.ts";
import { llamaHparams, llamaManifest, LlamaModel } from "./llama.ts";
import type { LoadOptions, Model } from "./graph.ts";
import { checkManifest, type ManifestProblem, type TensorSpec } from "./manifest.ts";

/** One row of the registry. */
export interface Architecture {
  /** `general.architecture` values this row reads. */
  readonly names: readonly ArchName[];
  /** Hyperparameters from the file's metadata. */
  hparams(file: GgufFile): ModelConfig;
  /** Every tensor a file of this architecture may hold, for its hyperparameters. */
  manifest(cfg: ModelConfig): TensorSpec[];
  /** Load a file into a backend. */
  load(file: GgufFile, backend: KernelBackend, opts?: LoadOptions): Model;
  /** What the pinned stock llama.cpp (v0.5.0) has of this row: the names it knows and the FFN it computes. */
  readonly llamaCpp: { readonly names: readonly ArchName[]; readonly activation: FfnActivation };
}

/** Every architecture the engine runs. */
export const ARCHITECTURES: readonly Architecture[] = [
  {
    names: ["bitnet", "bitnet-b1.58"],
    hparams: bitnetHparams,
    manifest: bitnetManifest,
    load: (f, b, o) => BitnetModel.load(f, b, o),
    // src/models/bitnet.cpp builds the FFN with LLM_FFN_SILU whatever the file says; bitnet-b1.58 is unknown to it.
    llamaCpp: { names: ["bitnet"], activation: "silu" },
  },
  {
    names: ["llama"],
    hparams: llamaHparams,
    manifest: llamaManifest,
    load: (f, b, o) => LlamaModel.load(f, b, o),
    // src/models/llama.cpp: LLM_FFN_SILU, LLM_FFN_PAR.
    llamaCpp: { names: ["llama"], activation: "silu" },
  },
];

/**
 * The registry row of an architecture name.
 *
 * @param name `general.architecture`.
 * @param path The file, for the message.
 * @returns The row.
 * @throws {RangeError} When the engine does not run the architecture; the message lists the ones it runs.
 * @example
 * ```ts
 * import { architecture } from "./architectures.ts";
 * console.log(architecture("bitnet-b1.58").names); // ["bitnet", "bitnet-b1.58"]
 * ```
 */
export function architecture(name: string, path = "the model"): Architecture {
  const row = ARCHITECTURES.find((a) => a.names.includes(name as ArchName));
  if (row) return row;
  const known = ARCHITECTURES.flatMap((a) => a.names).map((n) => `"${n}"`).join(", ");
  throw new RangeError(`Cannot run "${path}": architecture "${name || "(none)"}" is not supported; expected ${known}`);
}

/**
 * Read a model's hyperparameters, as its architecture defines them.
 *
 * @param file An open GGUF file.
 * @returns The hyperparameters.
 * @throws {RangeError} When the architecture is not supported or a required key is missing or inconsistent; the
 *   message names the key.
 * @example
 * ```ts
 * import { GgufFile } from "../gguf/file.ts";
 * import { writeSyntheticModel } from "../synth/write.ts";
 * import { configFromGguf } from "./architectures.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using f = GgufFile.open(path);
 * console.log(configFromGguf(f).nLayer); // 4
 * ```
 */
export function configFromGguf(file: GgufFile): ModelConfig {
  return architecture(file.architecture, file.path).hparams(file);
}

/**
 * Compare a file's tensors with its architecture's manifest.
 *
 * @param tensors Tensor infos from the file.
 * @param cfg Hyperparameters read from the same file.
 * @returns Problems found (empty when the file matches).
 */
export function validateTensors(tensors: readonly GgufTensorInfo[], cfg: ModelConfig): ManifestProblem[] {
  return checkManifest(tensors, architecture(cfg.arch).manifest(cfg));
}

/**
 * Load a model into a backend with its architecture's graph.
 *
 * @param file An open GGUF file.
 * @param backend The backend whose arena receives it.
 * @param opts Context, batch, hook, progress.
 * @returns The model.
 * @throws {RangeError} When the architecture is not supported or the file does not match its manifest.
 */
export function loadModel(file: GgufFile, backend: KernelBackend, opts: LoadOptions = {}): Model {
  return architecture(file.architecture, file.path).load(file, backend, opts);
}

/** Whether the pinned stock llama.cpp (v0.5.0) can load and correctly run a model. */
export interface LlamaCppCompatibility {
  /** True when llama.cpp loads the file. */
  readonly loads: boolean;
  /** True when it also computes the architecture's math correctly (false for bitnet-b1.58: SiLU vs relu2). */
  readonly correct: boolean;
  /** Reasons, one line each. */
  readonly notes: readonly string[];
}

/**
 * What the pinned stock llama.cpp makes of a file (docs/formats.md sections 1 and 2).
 *
 * @param cfg Hyperparameters.
 * @param tensors Tensor infos.
 * @returns Compatibility verdict with reasons.
 */
export function llamaCppCompatibility(cfg: ModelConfig, tensors: readonly GgufTensorInfo[]): LlamaCppCompatibility {
  const notes: string[] = [];
  const stock = architecture(cfg.arch).llamaCpp;
  let loads = true;
  let correct = true;
  if (!stock.names.includes(cfg.arch)) {
    loads = false;
    notes.push(
      `architecture "${cfg.arch}" is unknown to stock llama.cpp (of this family it has ${
        stock.names.map((n) => `"${n}"`).join(", ")
      }, with a SiLU FFN)`,
    );
  }
  if (tensors.some((t) => t.type === GgmlType.I2_S)) {
    loads = false;
    notes.push("I2_S tensors (type 36) are bitnet.cpp's format; stock llama.cpp rejects them at GGUF parse");
  }
  if (cfg.activation !== stock.activation) {
    correct = false;
    notes.push(
      `llama.cpp's ${stock.names.join("/")} graph hard-codes SiLU; this model needs squared ReLU (bitnet.cpp's ` +
        `llama.cpp has the same bug, microsoft/BitNet #588): parity compares it with ik_llama.cpp instead ` +
        `(--reference ik_llama, the default for ${cfg.arch})`,
    );
  }
  if (loads && notes.length === 0) notes.push(`loads and runs in stock llama.cpp (${cfg.arch} graph, SiLU FFN)`);
  return { loads, correct: loads && correct, notes };
}
