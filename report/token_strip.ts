/**
 * The greedy comparison of one prompt as two aligned token strips (our engine above, the reference below), one
 * column per generated step, the first divergence outlined and labelled, excused near-ties and failing divergences
 * coloured apart. Pieces are shown when known (the receipt's divergence records, or a vocabulary the caller
 * decoded), else the id; every cell's hover text has the id and the piece.
 *
 * @module
 */

import { type Html, html, join, visiblePiece } from "./html.ts";

/** One divergence as the strip needs it (a subset of the receipt's `GreedyDivergence`). */
export interface StripDivergence {
  /** 0-based step. */
  readonly step: number;
  /** Excused as a near-tie. */
  readonly tie: boolean;
}

/** Input of {@link tokenStrip}. */
export interface TokenStripInput {
  /** Engine's argmax per step. */
  readonly engine_ids: readonly number[];
  /** Reference's argmax per step. */
  readonly reference_ids: readonly number[];
  /** Divergences in step order. */
  readonly divergences: readonly StripDivergence[];
  /** Steps requested (to say where a comparison stopped). */
  readonly steps_requested: number;
  /** Piece of an id, or null when unknown. */
  readonly piece: (id: number) => string | null;
  /** Name of the reference side (`llama.cpp`). */
  readonly referenceName: string;
}

/** A piece with its leading and trailing spaces shown as faint dots (the space is part of the token). */
function pieceMarkup(p: string): Html {
  const m = /^( *)(.*?)( *)$/s.exec(p)!;
  if (!m[2]) return html`${visiblePiece(p)}`;
  const dots = (n: number) => (n ? html`<span class="ws">${"·".repeat(n)}</span>` : "");
  return html`${dots(m[1]!.length)}${visiblePiece(m[2])}${dots(m[3]!.length)}`;
}

function cell(id: number | undefined, piece: (id: number) => string | null, cls: string): Html {
  if (id === undefined) return html`<span class="tok ${cls} none">·</span>`;
  const p = piece(id);
  const tip = p === null ? `id ${id}` : `id ${id} · ${JSON.stringify(p)}`;
  return p === null
    ? html`<span class="tok ${cls} id" title="${tip}">#${id}</span>`
    : html`<span class="tok ${cls}" title="${tip}">${pieceMarkup(p)}</span>`;
}

/**
 * Render the strips.
 *
 * @param s Ids, divergences, piece lookup.
 * @returns Markup (`<div class="strip">`), with `data-first-divergence` set to the first divergent step.
 * @example
 * ```ts
 * import { tokenStrip } from "./token_strip.ts";
 * const s = tokenStrip({ engine_ids: [5, 7], reference_ids: [5, 8], divergences: [{ step: 1, tie: false }],
 *   steps_requested: 2, piece: () => null, referenceName: "llama.cpp" });
 * console.log(s.text.includes('data-first-divergence="1"')); // true
 * ```
 */
export function tokenStrip(s: TokenStripInput): Html {
  const n = Math.max(s.engine_ids.length, s.reference_ids.length);
  const byStep = new Map(s.divergences.map((d) => [d.step, d]));
  const first = s.divergences.length ? Math.min(...s.divergences.map((d) => d.step)) : null;
  const cols: Html[] = [];
  for (let i = 0; i < n; i++) {
    const e = s.engine_ids[i], r = s.reference_ids[i];
    const d = byStep.get(i);
    const differs = e !== r;
    const kind = d ? (d.tie ? " tie" : " fail") : differs ? " fail" : "";
    const isFirst = first === i;
    const tip = d ? (d.tie ? "excused near-tie" : "divergence") : differs ? "ids differ" : "same token";
    cols.push(
      html`
        <div class="step${kind}${isFirst ? " first" : ""}"
          title="step ${i}: ${tip}"><span class="sn">${isFirst ? "▼ " : ""}${i}</span>${cell(e, s.piece, "e")}${cell(
            r,
            s.piece,
            differs ? "r diff" : "r same",
          )}</div>
      `,
    );
  }
  const stopped = n < s.steps_requested
    ? html`<p class="note">Comparison stopped after ${n} of ${s.steps_requested} steps (at the first failing divergence).</p>`
    : "";
  const fd = first === null ? undefined : byStep.get(first);
  const describe = (id: number | undefined) => {
    if (id === undefined) return "nothing";
    const p = s.piece(id);
    return p === null ? `#${id}` : `${JSON.stringify(visiblePiece(p))} (#${id})`;
  };
  const note = fd
    ? html`
      <p
        class="first-note ${fd.tie ? "tie" : "fail"}">▼ First divergence at step ${fd.step}${fd.tie
          ? " (excused near-tie: both sides' top two logits within the tie epsilon)"
          : ""}: engine ${describe(s.engine_ids[fd.step])}, ${s.referenceName} ${describe(s.reference_ids[fd.step])}</p>
    `
    : "";
  const legend = html`
    <div
      class="step legend"><span class="sn">step</span><span class="tok e">engine</span><span class="tok r">${s
        .referenceName}</span></div>
  `;
  return html`${note}<div class="strip" data-first-divergence="${first ?? ""}">${legend}${join(cols)}</div>${stopped}`;
}
