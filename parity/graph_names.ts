/**
 * Graph names across references: localization compares intermediates by llama.cpp's graph names (`attn_norm-0`,
 * ..., `l_out-3`; our engine's hook uses the same), and a reference built from another code base names some nodes
 * differently. ik_llama.cpp's `bitnet-b1.58` graph (`src/graphs/build_bitnet.cpp` `build_bitnet_158`, and
 * `llm_build_ffn` in `src/llama-build-context.cpp`; measured with the driver's `capture`, docs/references.md) calls
 * the attention output projection `attn_o_out`, the gated FFN product `ffn_out` (llama.cpp's `ffn_sub_out`; in
 * llama.cpp's own `llama` graph `ffn_out` is the down projection), and labels the FFN's *input*, the residual add,
 * `ffn_norm` (`cb(input, "ffn_norm", il)` after building the norm, whose fused RMS norm times weight stays unnamed);
 * `ffn_relu` is a step inside our `ffn_sub_out`. This module renames a capture into llama.cpp's names; the FFN norm
 * itself is then simply not provided by ik_llama.cpp, and localization judges the FFN projections from the residual
 * (parity/localize.ts `inputsOf`).
 *
 * @module
 */

import type { NamedTensor } from "./subject.ts";

/** How a reference names its graph nodes. */
export type GraphDialect = "llama.cpp" | "ik_llama.cpp";

/** Capture filters (PROTOCOL.md `capture`: the common subset of POSIX ERE and JavaScript). */
const FILTERS: Readonly<Record<GraphDialect, string>> = {
  "llama.cpp": "^([A-Za-z_]+-[0-9]+|result_norm|result_output)$",
  "ik_llama.cpp": "^([A-Za-z_]+-[0-9]+|result_norm|result_output)$",
};

/** ik_llama.cpp's name -> llama.cpp's, per layer kind. */
const IK_RENAMES: ReadonlyMap<string, string> = new Map([
  ["attn_o_out", "attn_out"],
  ["ffn_norm", "ffn_inp"],
  ["ffn_out", "ffn_sub_out"],
]);

/** ik_llama.cpp kinds with no counterpart in llama.cpp's graph (steps inside one of its ops): dropped. */
const IK_DROPPED: ReadonlySet<string> = new Set(["ffn_relu"]);

/**
 * The capture filter to send to a reference of this dialect.
 *
 * @param d The dialect.
 * @returns A regular expression valid in POSIX ERE and JavaScript alike.
 * @example
 * ```ts
 * import { captureFilter } from "./graph_names.ts";
 * console.log(new RegExp(captureFilter("ik_llama.cpp")).test("inp_embd")); // true
 * ```
 */
export function captureFilter(d: GraphDialect): string {
  return FILTERS[d];
}

/**
 * A reference's captured tensors under llama.cpp's names (the engine's).
 *
 * @param d The reference's dialect.
 * @param captured Tensors by the reference's names, row-major `[tokens][values]`.
 * @returns Tensors by llama.cpp's names (`llama.cpp` captures are returned as they are).
 * @example
 * ```ts
 * import { toLlamaCppNames } from "./graph_names.ts";
 * const t = { rows: 1, cols: 1, data: Float32Array.of(1) };
 * const ik = new Map([["attn_o_out-0", t], ["ffn_norm-0", t], ["ffn_relu-0", t], ["ffn_out-0", t]]);
 * console.log([...toLlamaCppNames("ik_llama.cpp", ik).keys()]); // ["attn_out-0", "ffn_inp-0", "ffn_sub_out-0"]
 * ```
 */
export function toLlamaCppNames(
  d: GraphDialect,
  captured: ReadonlyMap<string, NamedTensor>,
): ReadonlyMap<string, NamedTensor> {
  if (d === "llama.cpp") return captured;
  const out = new Map<string, NamedTensor>();
  for (const [name, t] of captured) {
    const m = /^(.*)-(\d+)$/.exec(name);
    if (!m) out.set(name, t);
    else if (!IK_DROPPED.has(m[1])) out.set(`${IK_RENAMES.get(m[1]) ?? m[1]}-${m[2]}`, t);
  }
  return out;
}
