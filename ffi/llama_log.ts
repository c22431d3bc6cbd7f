/**
 * llama.cpp's own log, captured instead of printed. `llama_log_set` routes both llama and ggml messages
 * (`src/llama-impl.cpp`: it also calls `ggml_log_set`) to one callback; we keep the last lines in a ring buffer so
 * errors can quote the tail and the CLI can show it with `--verbose`. The library never prints it.
 *
 * @module
 */

/** Severity as ggml reports it (`enum ggml_log_level`, `ggml/include/ggml.h`). */
export type LlamaLogLevel = "debug" | "info" | "warn" | "error";

/** One complete log line. */
export interface LlamaLogLine {
  /** Monotonic sequence number since the process started (lets callers read "what happened since"). */
  readonly seq: number;
  /** Severity. */
  readonly level: LlamaLogLevel;
  /** Text without the trailing newline. */
  readonly text: string;
}

const LEVELS: Record<number, LlamaLogLevel> = { 0: "info", 1: "debug", 2: "info", 3: "warn", 4: "error" };
/** `GGML_LOG_LEVEL_CONT`: the text continues the previous message. */
const LEVEL_CONT = 5;

/**
 * A ring buffer of llama.cpp log lines. Messages arrive in pieces (`GGML_LOG_LEVEL_CONT` continues the previous
 * one, lines end with `\n`); pieces are joined into lines.
 */
export class LlamaLog {
  readonly #capacity: number;
  readonly #lines: LlamaLogLine[] = [];
  readonly #listeners = new Set<(line: LlamaLogLine) => void>();
  #partial = "";
  #partialLevel: LlamaLogLevel = "info";
  #seq = 0;

  /**
   * Create an empty log.
   *
   * @param capacity How many lines to keep (oldest dropped first).
   */
  constructor(capacity = 2000) {
    this.#capacity = capacity;
  }

  /**
   * Feed one message as llama.cpp hands it over.
   *
   * @param level `enum ggml_log_level` value.
   * @param text The message piece.
   */
  push(level: number, text: string): void {
    if (level !== LEVEL_CONT) {
      if (this.#partial) this.#emit(this.#partial);
      this.#partial = "";
      this.#partialLevel = LEVELS[level] ?? "info";
    }
    this.#partial += text;
    let nl: number;
    while ((nl = this.#partial.indexOf("\n")) >= 0) {
      this.#emit(this.#partial.slice(0, nl));
      this.#partial = this.#partial.slice(nl + 1);
    }
  }

  #emit(text: string): void {
    const line: LlamaLogLine = { seq: ++this.#seq, level: this.#partialLevel, text };
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) this.#lines.splice(0, this.#lines.length - this.#capacity);
    for (const l of this.#listeners) l(line);
  }

  /** Sequence number of the latest line (0 when empty); pass it to {@link LlamaLog.since} later. */
  get seq(): number {
    return this.#seq;
  }

  /**
   * Lines after a sequence number (still in the buffer).
   *
   * @param seq A value of {@link LlamaLog.seq} taken earlier; 0 for everything kept.
   * @returns The lines, oldest first, including an unterminated last piece.
   */
  since(seq = 0): LlamaLogLine[] {
    const out = this.#lines.filter((l) => l.seq > seq);
    if (this.#partial) out.push({ seq: this.#seq + 1, level: this.#partialLevel, text: this.#partial });
    return out;
  }

  /**
   * The last lines after `seq` as text, for attaching to an error.
   *
   * @param seq Start after this sequence number.
   * @param n Maximum number of lines (the most severe are not singled out: the tail shows the context).
   * @returns Lines joined by newlines, each prefixed by its level when it is a warning or an error.
   */
  tail(seq = 0, n = 12): string {
    return this.since(seq).slice(-n).map((l) =>
      (l.level === "warn" || l.level === "error" ? `${l.level}: ` : "") + l.text
    )
      .join("\n");
  }

  /**
   * Call `listener` for each new line (for `--verbose` streaming).
   *
   * @param listener Receives each completed line.
   * @returns A function that removes the listener.
   */
  subscribe(listener: (line: LlamaLogLine) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
