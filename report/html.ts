/**
 * HTML built by a tagged template that escapes every interpolated value unless it is already {@link Html}: a token
 * piece, a prompt, a file name or an error message from a receipt can never become markup, whatever it contains
 * (`<script>`, quotes that would end an attribute, `&` entities). Only this module creates `Html` from a plain
 * string, through {@link html} (whose literal parts are ours) and {@link rawTrustedCss}.
 *
 * @module
 */

/** A fragment of markup that is safe to insert as is. */
export class Html {
  /** The markup. */
  readonly text: string;
  /** @param text Markup produced by {@link html} (use the template, not this constructor). */
  constructor(text: string) {
    this.text = text;
  }
  /** The markup. */
  toString(): string {
    return this.text;
  }
}

/** What may be interpolated: markup, text (escaped), numbers, nothing (`null`, `undefined`, `false`), or lists. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escape text for element content and for quoted attribute values alike.
 *
 * @param text Any text.
 * @returns The text with `& < > " '` replaced by entities.
 * @example
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * console.log(escapeHtml('<script>alert("x")</script>')); // &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join("");
  return escapeHtml(String(v));
}

/**
 * Tagged template: literal parts are markup, interpolations are escaped text (or trusted {@link Html}).
 *
 * @param strings Literal parts (markup written in this folder).
 * @param values Interpolated values.
 * @returns The fragment.
 * @example
 * ```ts
 * import { html } from "./html.ts";
 * const piece = "<script>";
 * console.log(html`<td title="${piece}">${piece}</td>`.text); // <td title="&lt;script&gt;">&lt;script&gt;</td>
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/**
 * Join fragments with a separator (markup).
 *
 * @param items Fragments or text.
 * @param sep Separator markup.
 * @returns One fragment.
 */
export function join(items: readonly HtmlValue[], sep: Html = new Html("")): Html {
  return new Html(items.map(render).join(sep.text));
}

/**
 * Wrap the page's own style sheet (a constant of this folder, never receipt text) for the `<style>` element.
 *
 * @param css Style sheet text written in this folder.
 * @returns The sheet as markup.
 * @throws {RangeError} When the text could end the `<style>` element.
 */
export function rawTrustedCss(css: string): Html {
  if (/<\/?style|<!--/i.test(css)) throw new RangeError("Cannot inline this style sheet: it contains a tag");
  return new Html(css);
}

/**
 * A token piece for display: whitespace and control characters made visible (`↵` newline, `⇥` tab, `␣` for a
 * piece that is only spaces, `\xNN` for other control characters), so an empty-looking cell still says what it is.
 * The result is text: escape it on output (the {@link html} template does).
 *
 * @param piece Token text as the receipt or tokenizer gives it.
 * @returns Display text.
 * @example
 * ```ts
 * import { visiblePiece } from "./html.ts";
 * console.log(visiblePiece("\n")); // ↵
 * ```
 */
export function visiblePiece(piece: string): string {
  if (piece.length > 0 && /^ +$/.test(piece)) return "␣".repeat(piece.length);
  return piece.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/g,
    (c) => c === "\n" ? "↵" : c === "\t" ? "⇥" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}
