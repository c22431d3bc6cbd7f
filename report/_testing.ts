/**
 * Test helper: parse HTML with linkedom (Deno has no DOMParser) behind the few DOM types the tests use, so the
 * test programs need no `lib="dom"` (which would retype WebAssembly memory for every module they import).
 *
 * @module
 */

import { parseHTML } from "linkedom";

/** The part of a DOM element the tests read. */
export interface El {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): El | null;
  querySelectorAll(selector: string): Iterable<El> & { readonly length: number; readonly [i: number]: El };
}

/** A parsed document. */
export interface Doc extends El {
  readonly body: El;
}

/**
 * Parse a page or a fragment.
 *
 * @param markup HTML.
 * @returns The document.
 */
export function parseDocument(markup: string): Doc {
  const html = /^\s*(<!doctype|<html)/i.test(markup) ? markup : `<!doctype html><html><body>${markup}</body></html>`;
  return (parseHTML(html) as unknown as { document: Doc }).document;
}
