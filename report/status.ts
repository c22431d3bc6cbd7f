/**
 * How a verdict looks. The one rule: only the exact status `"pass"` of a receipt that verified is green. A failure is
 * red; `not_run`, any status this code does not know (a newer receipt's `reference_crashed`, say) and a missing
 * status are amber with their own words; so is a `"pass"` whose receipt did not verify (it is not evidence), and the
 * page's overall verdict counts any unverified receipt as a failure.
 *
 * @module
 */

import { type Html, html } from "./html.ts";

/** Colour family of a verdict. */
export type Tone = "pass" | "fail" | "warn";

/** A verdict as shown. */
export interface StatusView {
  /** Colour family. */
  readonly tone: Tone;
  /** Words on the badge. */
  readonly label: string;
}

/**
 * The view of a receipt's or check's status.
 *
 * @param status The recorded status (any JSON value).
 * @param verified False when the receipt failed `verifyReceipt` (a pass is then not shown as one).
 * @returns Tone and label.
 * @example
 * ```ts
 * import { statusView } from "./status.ts";
 * console.log(statusView("reference_crashed", true)); // { tone: "warn", label: "REFERENCE CRASHED" }
 * ```
 */
export function statusView(status: unknown, verified: boolean): StatusView {
  if (status === "pass") {
    return verified ? { tone: "pass", label: "PASS" } : { tone: "warn", label: "PASS, UNVERIFIED" };
  }
  if (status === "fail") return { tone: "fail", label: "FAIL" };
  if (typeof status !== "string" || status === "") return { tone: "warn", label: "NO STATUS" };
  return { tone: "warn", label: status.replace(/[_-]+/g, " ").toUpperCase() };
}

/**
 * The view of a baseline-comparison verdict (`receipts/baseline_compare.ts`): a regression is red; no change and
 * improvement are green (the check passed); inconclusive, not comparable, missing and anything unknown are amber.
 *
 * @param verdict The verdict.
 * @returns Tone and label.
 */
export function verdictView(verdict: string): StatusView {
  const label = verdict.replace(/_/g, " ").toUpperCase();
  if (verdict === "regression") return { tone: "fail", label };
  if (verdict === "no_change" || verdict === "improvement") return { tone: "pass", label };
  return { tone: "warn", label };
}

/**
 * A badge.
 *
 * @param view Tone and label.
 * @param opts `big` for a section's headline verdict; `title` for a hover text.
 * @returns Markup.
 */
export function badge(view: StatusView, opts: { readonly big?: boolean; readonly title?: string } = {}): Html {
  const title = opts.title
    ? html`
      title="${opts.title}"
    `
    : "";
  return html`
    <span class="badge ${view.tone}${opts.big ? " big" : ""}" ${title} data-tone="${view.tone}">${view.label}</span>
  `;
}
