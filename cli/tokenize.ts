/**
 * `crossval tokenize`: tokenize with our engine's tokenizer (llama.cpp-exact). `--text` and `--file` print one
 * `id -> piece` line per token; `--inp FILE.inp` runs a llama.cpp test-vector file and prints one line of ids per
 * case in the `.out` format, so `diff <(crossval tokenize --model x.gguf --inp x.gguf.inp) x.gguf.out` is empty.
 * `--json` prints one object instead.
 *
 * @module
 */

import { printJson, snakeKeys } from "./_output.ts";
import { UsageError } from "./_errors.ts";

/** Flags of `tokenize` as commander parses them. */
export interface TokenizeFlags {
  model: string;
  text?: string;
  file?: string;
  inp?: string;
  addSpecial?: boolean;
  parseSpecial?: boolean;
  json?: boolean;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A piece for display: JSON-quoted text, or `\xNN` escapes when the bytes are not whole UTF-8. */
function showPiece(bytes: Uint8Array): string {
  try {
    return JSON.stringify(strictUtf8.decode(bytes));
  } catch {
    const esc = (b: number) =>
      b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
        ? String.fromCharCode(b)
        : "\\x" + b.toString(16).padStart(2, "0");
    return `"${Array.from(bytes, esc).join("")}"`;
  }
}

/** Run `tokenize`; returns the exit code. */
export async function tokenizeCommand(flags: TokenizeFlags): Promise<number> {
  const sources = [flags.text !== undefined, flags.file !== undefined, flags.inp !== undefined].filter(Boolean).length;
  if (sources !== 1) {
    throw new UsageError(
      `Cannot tokenize: give exactly one of --text, --file or --inp (got ${sources}). ` +
        `Example: crossval tokenize --model ggml-vocab-llama-bpe.gguf --text "Hello world"`,
    );
  }
  const { GgufFile } = await import("../engine/gguf/mod.ts");
  const { Tokenizer, formatVocabTestLine, parseVocabTestInputs } = await import("../engine/tokenizer/mod.ts");
  using file = GgufFile.open(flags.model);
  (await import("./preflight.ts")).preflightFile(file);
  const tok = (() => {
    try {
      return Tokenizer.fromGguf(file);
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) {
        throw new UsageError(`Cannot tokenize with "${flags.model}": ${e.message}`);
      }
      throw e;
    }
  })();
  const opts = { addSpecial: flags.addSpecial ?? false, parseSpecial: flags.parseSpecial ?? false };
  const common = {
    model: flags.model,
    tokenizer: snakeKeys(tok.identity),
    add_special: opts.addSpecial,
    parse_special: opts.parseSpecial,
  };

  if (flags.inp !== undefined) {
    const cases = parseVocabTestInputs(await Deno.readFile(flags.inp));
    const ids = cases.map((c) => tok.encode(c, opts));
    if (flags.json) {
      const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
      printJson({
        ...common,
        inp: flags.inp,
        cases: cases.map((c, i) => ({ input: utf8.decode(c), ids: [...ids[i]] })),
      });
    } else {
      const out = ids.map((x) => formatVocabTestLine(x) + "\n").join("");
      await Deno.stdout.write(new TextEncoder().encode(out));
    }
    return 0;
  }

  const input = flags.text ?? await Deno.readFile(flags.file!);
  const ids = tok.encode(input, opts);
  const pieces = [...ids].map((id) => tok.tokenToPieceBytes(id, { special: true }));
  if (flags.json) {
    printJson({
      ...common,
      ...(flags.file !== undefined ? { file: flags.file } : { text: flags.text }),
      ids: [...ids],
      pieces: pieces.map((p) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(p)),
    });
    return 0;
  }
  const lines = [...ids].map((id, i) => `${String(id).padStart(6)} -> ${showPiece(pieces[i])}`);
  lines.push(`${ids.length} tokens`);
  console.log(lines.join("\n"));
  return 0;
}
