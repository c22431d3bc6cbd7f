/**
 * GGUF reading and writing.
 *
 * @module
 */
export * from "./types.ts";
export { type ByteSource, bytesSource, parseGgufHeader } from "./reader.ts";
export {
  type ByteSink,
  encodeGguf,
  type GgufLayout,
  type GgufSpec,
  type GgufTensorSpec,
  layoutGguf,
  writeGguf,
} from "./writer.ts";
export { GgufFile } from "./file.ts";
export {
  assertPreflight,
  InvalidModelError,
  type PreflightCode,
  preflightGguf,
  preflightMessage,
  type PreflightProblem,
} from "./preflight.ts";
