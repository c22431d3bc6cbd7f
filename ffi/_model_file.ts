/**
 * Fail fast, before llama.cpp, on a model file that is missing or not GGUF, with the spec's troubleshooting steps
 * (validation-spec AC21/AC24: the path, how to inspect it, how to provision it).
 *
 * @module
 */

/** The troubleshooting steps appended to every model-load error. */
export function troubleshooting(path: string): string {
  return `Troubleshooting:\n` +
    `  1. Verify the file exists: ls -lh ${path}\n` +
    `  2. Check the GGUF: crossval inspect ${path}\n` +
    `  3. Provision the test models: crossval fetch --tier ci (or generate one: crossval make-model --out <file>)`;
}

/** Throw `NotFound` for a missing file and `SyntaxError` for a file that does not start with "GGUF". */
export function checkModelFile(path: string): void {
  let size: number;
  try {
    size = Deno.statSync(path).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot load model "${path}": file not found.\n${troubleshooting(path)}`);
    }
    throw e;
  }
  const head = new Uint8Array(4);
  let n = 0;
  if (size > 0) {
    using f = Deno.openSync(path, { read: true });
    n = f.readSync(head) ?? 0;
  }
  if (n < 4 || new TextDecoder().decode(head) !== "GGUF") {
    throw new SyntaxError(
      `Cannot load model "${path}": not a GGUF file (${size} bytes, magic ${
        JSON.stringify(new TextDecoder().decode(head.subarray(0, n)))
      }, expected "GGUF"); it may be truncated, an HTML error page or another format.\n${troubleshooting(path)}`,
    );
  }
}
