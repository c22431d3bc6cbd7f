/**
 * The report: parity and bench receipts in, one self-contained HTML page out (inline SVG charts, no script, no
 * network). Pure: it reads nothing and prints nothing; `crossval report` (cli/report.ts) reads the files and
 * writes the page.
 *
 * @example
 * ```ts
 * import { renderReport } from "./mod.ts";
 * const page = renderReport([], { generatedAt: "2026-01-01T00:00:00Z" });
 * console.log(page.includes("NO RECEIPTS")); // true
 * ```
 *
 * @module
 */
export { renderReport, type RenderReportOptions, type ReportInput } from "./page.ts";
export { parityTokenIds, receiptPieces } from "./parity_section.ts";
export { escapeHtml, Html, html, visiblePiece } from "./html.ts";
export { type StatusView, statusView, type Tone } from "./status.ts";
