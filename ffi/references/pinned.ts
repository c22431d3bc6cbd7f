/**
 * The pinned second reference: ik_llama.cpp at one commit, shipped as a source archive (no package registry carries
 * it). It has the `bitnet-b1.58` architecture with the squared-ReLU FFN (`src/graphs/build_bitnet.cpp`,
 * `LLM_FFN_RELU_SQR`) that the pinned llama.cpp lacks. See docs/references.md.
 *
 * @module
 */

/** The pinned ik_llama.cpp source archive. */
export const PINNED_IK_LLAMA = {
  /** Library name as receipts and `hello` report it. */
  library: "ik_llama.cpp",
  /** Upstream repository. */
  upstream: "https://github.com/ikawrakow/ik_llama.cpp",
  /** Commit the archive was made from. */
  commit: "8337e4cd3861406fc04e0854b1409cd1b027fbc9",
  /** Archive file name, searched for in the `third_party/` folders (see `locateIkArchive`). */
  archive: "ik_llama.cpp-8337e4cd3.tar.xz",
  /** SHA-256 of the archive: also its cache key (`<cache>/references/<sha256>/`). */
  sha256: "c8f0e43768da9d6262eb88da5172babf9445e123e5467c8f9ebcd0ab61989893",
  /** Environment variable naming the archive's path explicitly. */
  env: "BITNET_IK_ARCHIVE",
} as const;
