/**
 * Pre-flight for commands that hand a model to a native reference or to our engine: the file's metadata is checked
 * (engine/gguf/preflight.ts) before any native call, and a file that fails is refused with the same message
 * `inspect` prints, naming the key and its value.
 *
 * @module
 */

/** Refuse a model whose metadata would crash or mislead a loader. Placeholder until the validator lands. */
export async function preflightModelFile(_path: string): Promise<void> {
  await Promise.resolve();
}
