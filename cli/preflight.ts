/**
 * Pre-flight for commands that hand a model to a native reference or to our engine (`run`, `ref-run`, `tokenize`;
 * `parity` and `validate` do it inside `runParityOnModel`): the file's metadata is checked
 * (engine/gguf/preflight.ts) before any native call, and a file that fails is refused with the message `inspect`
 * prints for it, naming the key and its value (`InvalidModelError`, exit 2).
 *
 * `CROSSVAL_TEST_SKIP_PREFLIGHT=1` turns the check off. It exists for the tests that prove the reference process
 * survives what pre-flight would have refused (docs/CROSSVAL.md); never set it otherwise.
 *
 * @module
 */

import { assertPreflight, GgufFile } from "../engine/gguf/mod.ts";

/** Whether the test-only switch that disables pre-flight is on. */
export function preflightSkipped(): boolean {
  return Deno.env.get("CROSSVAL_TEST_SKIP_PREFLIGHT") === "1";
}

/**
 * Refuse an open file whose metadata would crash or mislead a loader.
 *
 * @param file The open file.
 * @throws {InvalidModelError} Naming the first bad key and its value.
 */
export function preflightFile(file: GgufFile): void {
  if (!preflightSkipped()) assertPreflight(file.header, file.path);
}

/**
 * Refuse a model file whose metadata would crash or mislead a loader. A file that cannot be opened or parsed is
 * left to the command's own loader, which reports it with its usual message.
 *
 * @param path The file.
 * @throws {InvalidModelError} Naming the first bad key and its value.
 */
export function preflightModelFile(path: string): void {
  let file: GgufFile;
  try {
    file = GgufFile.open(path);
  } catch {
    return;
  }
  using f = file;
  preflightFile(f);
}
