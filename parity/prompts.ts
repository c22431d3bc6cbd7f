/**
 * Prompts for the parity run: a default set that exercises prose, numbers, code, non-ASCII text, whitespace runs
 * and special-token text (parsed as special tokens, the parse_special variant), and a reader for user prompt files.
 *
 * @module
 */

/** One prompt. */
export interface ParityPrompt {
  /** The text. */
  readonly text: string;
  /** Parse special-token text (`<|eot_id|>`) as special tokens for the logits and greedy checks. */
  readonly parseSpecial: boolean;
}

/**
 * The default prompts. Short on purpose: every position of each is compared, and each is decoded 32 steps on
 * both sides. The last one is Llama 3 chat markup, whose special tokens exist in both the llama-bpe vocabulary and
 * the generated models' vocabulary (`engine/synth/vocab.ts` LLAMA3_SPECIALS).
 */
export const DEFAULT_PROMPTS: readonly ParityPrompt[] = [
  { text: "Once upon a time, there was a little robot who liked to read books.", parseSpecial: false },
  { text: "The meeting is at 10:30 on Monday; version 2.0.0 fixed 17 bugs for $19.99.", parseSpecial: false },
  { text: "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n", parseSpecial: false },
  { text: "Ça va? Größe, naïve café — 東京 🚀 Привет", parseSpecial: false },
  { text: "  two leading spaces\ttab\n\nblank line   three spaces ", parseSpecial: false },
  {
    text: "<|start_header_id|>user<|end_header_id|>\n\nWhy is the sky blue?<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
    parseSpecial: true,
  },
];

/** Separator of llama.cpp's tokenizer test inputs (`models/ggml-vocab-*.gguf.inp`, `tests/test-tokenizer-0`). */
export const GGML_VOCAB_TEST_SEPARATOR = "\n__ggml_vocab_test__\n";

/**
 * Parse a prompt file. Three forms, detected from the content:
 * - JSON: an array of strings or of `{ "text": string, "parse_special"?: boolean }`;
 * - llama.cpp `.inp` files: cases separated by `\n__ggml_vocab_test__\n`;
 * - otherwise one prompt per non-empty line.
 * Text containing `<|` ... `|>` gets `parseSpecial: true` unless a JSON object says otherwise.
 *
 * @param text File content.
 * @returns The prompts (at least one).
 * @throws {SyntaxError} For malformed JSON, a wrong JSON shape, or a file with no prompt.
 * @example
 * ```ts
 * import { parsePromptFile } from "./prompts.ts";
 * console.log(parsePromptFile("Hello\n\nWorld\n").length); // 2
 * ```
 */
export function parsePromptFile(text: string): ParityPrompt[] {
  const special = (t: string) => /<\|[^|]*\|>/.test(t);
  let prompts: ParityPrompt[];
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[")) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new SyntaxError(
        `Cannot read the prompt file: invalid JSON (${(e as Error).message}). Fix the JSON or use one prompt per line.`,
      );
    }
    if (!Array.isArray(json)) {
      throw new SyntaxError(
        'Cannot read the prompt file: it is JSON but not an array. Write ["prompt", {"text": "prompt"}, ...]',
      );
    }
    prompts = json.map((p, i) => {
      if (typeof p === "string") return { text: p, parseSpecial: special(p) };
      if (p && typeof p === "object" && typeof (p as { text?: unknown }).text === "string") {
        const o = p as { text: string; parse_special?: unknown };
        if (o.parse_special !== undefined && typeof o.parse_special !== "boolean") {
          throw new SyntaxError(
            `Cannot read the prompt file: item ${i} has a non-boolean parse_special. Set it to true or false`,
          );
        }
        return { text: o.text, parseSpecial: o.parse_special ?? special(o.text) };
      }
      throw new SyntaxError(
        `Cannot read the prompt file: item ${i} is neither a string nor {"text": ...}. Write each prompt as one of those`,
      );
    });
  } else if (text.includes(GGML_VOCAB_TEST_SEPARATOR)) {
    // The files end with the separator too: the empty piece after it is not a case.
    const cases = text.split(GGML_VOCAB_TEST_SEPARATOR);
    if (text.endsWith(GGML_VOCAB_TEST_SEPARATOR)) cases.pop();
    prompts = cases.map((t) => ({ text: t, parseSpecial: special(t) }));
  } else {
    prompts = text.split("\n").filter((l) => l.trim() !== "").map((t) => ({ text: t, parseSpecial: special(t) }));
  }
  if (prompts.length === 0) {
    throw new SyntaxError("Cannot read the prompt file: it contains no prompt. Add at least one line.");
  }
  return prompts;
}
