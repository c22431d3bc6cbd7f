/**
 * Per-prompt part of the parity section: for each prompt its text, three per-position charts (cosine, KL
 * divergence, max |Δlogit|) with the gate lines, the first position that breaks a per-position gate marked, and
 * the greedy comparison as token strips.
 *
 * @module
 */

import type { GreedyPrompt, LogitsRow, ParityThresholds, ReceiptPrompt } from "../receipts/parity_receipt.ts";
import { type Html, html, join, visiblePiece } from "./html.ts";
import { num } from "./format.ts";
import { type ChartPoint, lineChart } from "./line_chart.ts";
import { badge, statusView } from "./status.ts";
import { tokenStrip } from "./token_strip.ts";

/** Piece of a token id, or null when unknown. */
export type PieceOf = (id: number) => string | null;

/** Input of {@link promptBlocks}. */
export interface PromptBlocksInput {
  /** The receipt's prompts. */
  readonly prompts: readonly ReceiptPrompt[];
  /** Logits rows of all prompts. */
  readonly rows: readonly LogitsRow[];
  /** Greedy records of all prompts. */
  readonly greedy: readonly GreedyPrompt[];
  /** Steps requested per prompt. */
  readonly stepsRequested: number;
  /** Gates. */
  readonly thresholds: ParityThresholds | null;
  /** Piece lookup. */
  readonly piece: PieceOf;
  /** Whether the receipt verified (a pass is green only then). */
  readonly verified: boolean;
  /** Name of the reference (`llama.cpp`). */
  readonly referenceName: string;
}

function breaks(r: LogitsRow, t: ParityThresholds | null): boolean {
  if (r.cosine === null || r.kld === null) return true;
  return t !== null && (r.cosine < t.cosine_min || r.kld > t.kld_max_max);
}

function tokenLabel(id: number, piece: PieceOf): string {
  const p = piece(id);
  return p === null ? `#${id}` : `${JSON.stringify(visiblePiece(p))} #${id}`;
}

/**
 * Render one block per prompt.
 *
 * @param i Prompts, rows, greedy records, gates, piece lookup.
 * @returns Markup.
 */
export function promptBlocks(i: PromptBlocksInput): Html {
  const t = i.thresholds;
  if (i.rows.length === 0 && i.greedy.length === 0) {
    return html`
      <p class="muted">Nothing was compared (the reasons above say why). The run's prompts:</p>
      <ol class="prompt-list" start="0">${join(i.prompts.map((p) =>
        html`
          <li>
            <pre class="prompt-text">${p.text}</pre>
          </li>
        `
      ))}</ol>
    `;
  }
  const blocks = i.prompts.map((p) => {
    const rows = i.rows.filter((r) => r.prompt === p.index).sort((a, b) => a.pos - b.pos);
    const g = i.greedy.find((x) => x.prompt === p.index);
    const firstBad = rows.find((r) => breaks(r, t));
    const marker = firstBad ? { x: firstBad.pos, label: `first gate break, pos ${firstBad.pos}` } : null;
    const tip = (r: LogitsRow, what: string) =>
      `pos ${r.pos}, input ${tokenLabel(r.token, i.piece)}: ${what}; top-1 ${
        r.ref_top1 === r.eng_top1 ? "agrees" : `differs (${i.referenceName} ${r.ref_top1}, engine ${r.eng_top1})`
      }`;
    const pts = (f: (r: LogitsRow) => number | null, name: string): ChartPoint[] =>
      rows.map((r) => ({ x: r.pos, y: f(r), tip: tip(r, `${name} ${num(f(r), 7)}`) }));
    const charts = rows.length
      ? html`
        <div class="charts">
          <figure><figcaption>cosine similarity</figcaption>${lineChart({
            label: `prompt ${p.index}: cosine per position`,
            points: pts((r) => r.cosine, "cosine"),
            gates: t ? [{ y: t.cosine_min, label: `min ${t.cosine_min}`, bound: "min" }] : [],
            ceil: 1.000001,
            marker,
          })}</figure>
          <figure><figcaption>KL divergence (nats)</figcaption>${lineChart({
            label: `prompt ${p.index}: KL divergence per position`,
            points: pts((r) => r.kld, "KLD"),
            gates: t
              ? [
                { y: t.kld_max_max, label: `max ${t.kld_max_max}`, bound: "max" },
                { y: t.kld_mean_max, label: `mean ≤ ${t.kld_mean_max}`, bound: null },
              ]
              : [],
            floor: 0,
            marker,
          })}</figure>
          <figure><figcaption>max |Δlogit|</figcaption>${lineChart({
            label: `prompt ${p.index}: max absolute logit difference per position`,
            points: pts((r) => r.max_abs_dlogit, "max |Δlogit|"),
            floor: 0,
            marker,
          })}</figure>
        </div>
      `
      : html`<p class="muted">No positions of this prompt were compared.</p>`;
    const strip = g
      ? html`
        <div
          class="greedy"><h5>Greedy decoding ${badge(statusView(g.status, i.verified))} <span class="muted">${g
            .steps} step${g.steps === 1 ? "" : "s"}${g.divergences.length
            ? `, ${g.divergences.length} divergence(s)`
            : ", identical"}</span></h5>${tokenStrip({
              engine_ids: g.engine_ids,
              reference_ids: g.reference_ids,
              divergences: g.divergences,
              steps_requested: i.stepsRequested,
              piece: i.piece,
              referenceName: i.referenceName,
            })}</div>
      `
      : "";
    const flags = p.parse_special
      ? html`
        <span class="tag">parse_special</span>
      `
      : "";
    return html`
      <article class="prompt"
        data-prompt="${p.index}"><h4>Prompt ${p.index} <span class="muted">${p
          .n_tokens} tokens</span>${flags}</h4><pre class="prompt-text">${p.text}</pre>${charts}${strip}</article>
    `;
  });
  return join(blocks);
}
