/**
 * The parity section of the report, in reading order: the verdict and its reasons, the four checks, the headline
 * metrics against their gates, per prompt the per-position charts and the greedy strips, the localization heatmap,
 * and who computed what (reference, engine, model, tokenizer, machine, tool).
 *
 * @module
 */

import type { ParityReceipt } from "../receipts/parity_receipt.ts";
import type { ReceiptProblem } from "../receipts/problem.ts";
import { type Html, html, type HtmlValue, join } from "./html.ts";
import { basename, bytes, num, pct, short } from "./format.ts";
import { badge, statusView, type Tone } from "./status.ts";
import { localizationHeatmap } from "./heatmap.ts";
import { identityBlock } from "./identity.ts";
import { type PieceOf, promptBlocks } from "./parity_prompts.ts";

/** Input of {@link paritySection}. */
export interface ParitySectionInput {
  /** Where the receipt came from (a file path). */
  readonly source: string;
  /** Element id of the section. */
  readonly anchor: string;
  /** The receipt (as parsed: it may not match the schema when `problems` is not empty). */
  readonly receipt: ParityReceipt;
  /** `verifyReceipt` problems (empty: verified). */
  readonly problems: readonly ReceiptProblem[];
  /** Token pieces decoded by the caller from the receipt's vocabulary, if any. */
  readonly pieces?: ReadonlyMap<number, string>;
}

/**
 * The token pieces a parity receipt records itself: the divergence records (both tokens and top-5s) and the
 * tokenization differences.
 *
 * @param r The receipt.
 * @returns Id -> piece.
 */
export function receiptPieces(r: ParityReceipt): Map<number, string> {
  const m = new Map<number, string>();
  const add = (id: number | null | undefined, p: string | null | undefined) => {
    if (typeof id === "number" && typeof p === "string") m.set(id, p);
  };
  const divs = [...(r.checks?.greedy?.prompts ?? []).flatMap((g) => g.divergences ?? []), r.first_divergence];
  for (const d of divs) {
    if (!d) continue;
    add(d.engine_token, d.engine_piece);
    add(d.reference_token, d.reference_piece);
    for (const t of [...(d.engine_top5 ?? []), ...(d.reference_top5 ?? [])]) add(t.id, t.piece);
  }
  for (const c of r.checks?.tokenization?.cases ?? []) {
    add(c.first_diff?.engine_id, c.first_diff?.engine_piece);
    add(c.first_diff?.reference_id, c.first_diff?.reference_piece);
  }
  return m;
}

/**
 * Every token id a parity receipt shows (greedy steps, input tokens, argmaxes): what a caller decodes to give the
 * strips and hover texts their pieces.
 *
 * @param r The receipt.
 * @returns Distinct ids, ascending.
 */
export function parityTokenIds(r: ParityReceipt): number[] {
  const s = new Set<number>();
  for (const g of r.checks?.greedy?.prompts ?? []) for (const id of [...g.engine_ids, ...g.reference_ids]) s.add(id);
  for (const row of r.checks?.logits?.rows ?? []) s.add(row.token), s.add(row.ref_top1), s.add(row.eng_top1);
  return [...s].filter((x) => Number.isInteger(x) && x >= 0).sort((a, b) => a - b);
}

/** A reason on one line; a message of several lines (a native error with its troubleshooting) folds out. */
function reasonItem(x: { readonly check: string; readonly code: string; readonly message: string }): Html {
  const [head, ...rest] = x.message.split("\n");
  const more = rest.length
    ? html`
      <details>
        <summary>details</summary>
        <pre class="msg">${rest.join("\n")}</pre>
      </details>
    `
    : "";
  return html`<li><span class="tag">${x.check}</span> <code>${x.code}</code> ${head}${more}</li>`;
}

function tile(label: string, value: string, gate: string, tone: Tone | "none"): Html {
  return html`
    <div class="tile ${tone}">
      <div class="tile-label">${label}</div>
      <div class="tile-value">${value}</div>
      <div class="tile-gate">${gate}</div>
    </div>
  `;
}

/** A metric against its gate: green only when within it and the receipt verified. */
function within(x: number | null | undefined, ok: (v: number) => boolean, verified: boolean): Tone {
  return x === null || x === undefined || !Number.isFinite(x) ? "warn" : !ok(x) ? "fail" : verified ? "pass" : "warn";
}

function checksGrid(r: ParityReceipt, verified: boolean): Html {
  const c = r.checks;
  const tok = c.tokenization.cases;
  const s = c.logits.summary;
  const ties = c.greedy.prompts.flatMap((g) => g.divergences).filter((d) => d.tie).length;
  const failing = c.greedy.prompts.flatMap((g) => g.divergences).filter((d) => !d.tie).length;
  const steps = c.greedy.prompts.reduce((a, g) => a + g.steps, 0);
  const first = c.localization.first_exceedance;
  const cards: [string, unknown, HtmlValue][] = [
    ["tokenization", c.tokenization.status, `${tok.filter((x) => x.match).length}/${tok.length} cases exact`],
    [
      "logits",
      c.logits.status,
      s ? `${s.compared_tokens} positions, ${s.decisive_top1_flips} decisive top-1 flip(s)` : "not compared",
    ],
    ["greedy", c.greedy.status, `${steps} steps, ${ties} near-tie(s), ${failing} failing divergence(s)`],
    [
      "localization",
      c.localization.status,
      first
        ? html`first divergence <b class="mono">${first.name}</b> (${first.status.replace(/_/g, " ")})`
        : c.localization.reason,
    ],
  ];
  return html`<div class="checks">${
    join(cards.map(([name, st, detail]) =>
      html`
        <div class="check" data-check="${name}" data-status="${String(st)}">
          <div class="check-head"><span class="check-name">${name}</span>${badge(statusView(st, verified))}</div>
          <div class="check-detail">${detail}</div>
        </div>
      `
    ))
  }</div>`;
}

function metricTiles(r: ParityReceipt, verified: boolean): Html {
  const t = r.thresholds, s = r.checks.logits.summary, m = r.metrics;
  if (!s) return html``;
  const greedyTone: Tone = m.greedy_exact_match === null
    ? "warn"
    : r.checks.greedy.status === "pass"
    ? (verified ? "pass" : "warn")
    : r.checks.greedy.status === "fail"
    ? "fail"
    : "warn";
  return html`<div class="tiles">${
    join([
      tile(
        "min cosine",
        num(s.cosine_min, 7),
        `gate ≥ ${t.cosine_min}`,
        within(s.cosine_min, (v) => v >= t.cosine_min, verified),
      ),
      tile(
        "KLD mean",
        num(s.kld.mean, 3),
        `gate ≤ ${t.kld_mean_max}`,
        within(s.kld.mean, (v) => v <= t.kld_mean_max, verified),
      ),
      tile(
        "KLD median",
        num(s.kld.median, 3),
        `gate ≤ ${t.kld_median_max}`,
        within(s.kld.median, (v) => v <= t.kld_median_max, verified),
      ),
      tile(
        "KLD max",
        num(s.kld.max, 3),
        `gate ≤ ${t.kld_max_max}`,
        within(s.kld.max, (v) => v <= t.kld_max_max, verified),
      ),
      tile(
        "top-1 agreement",
        pct(s.same_top.p, 2),
        `${s.same_top.k}/${s.same_top.n}, gate ≥ ${pct(t.same_top_min, 0)}`,
        within(s.same_top.p, (v) => v >= t.same_top_min, verified),
      ),
      tile(
        "greedy",
        m.greedy_exact_match === null ? "–" : m.greedy_exact_match ? "exact" : "differs",
        `${m.greedy_steps_compared} steps compared`,
        greedyTone,
      ),
      tile(
        "eval time",
        `${num(m.inference_time_engine_ms, 3)} ms`,
        `engine; ${r.reference?.library ?? "reference"} ${num(m.inference_time_cpp_ms, 3)} ms`,
        "none",
      ),
    ])
  }</div>`;
}

function localizationBlock(r: ParityReceipt): Html {
  const l = r.checks.localization;
  if (!l.tensors.length) return html`<p class="muted">Not run: ${l.reason}</p>`;
  const first = l.first_exceedance;
  const firstLine = first
    ? html`
      <p
        class="first-line"><span class="outline-key"></span> First diverging op: <b class="mono">${first
          .name}</b> (${first.status.replace(/_/g, " ")}; NMSE ${num(first.nmse)}, ${first.new_error_rows}/${first
          .clean_rows} clean-input rows with a new error). The ops before it matched on the same inputs.</p>
    `
    : html`
      <p
        class="muted">No op introduced an error of its own: every intermediate matched within its tolerance on clean inputs.</p>
    `;
  const missing = l.not_compared.length
    ? html`<p class="muted">Not provided by the reference (not compared): ${l.not_compared.join(", ")}</p>`
    : "";
  return html`<p class="muted">${l.reason}; ${l.n_tokens} tokens in ${l.sequences} sequences.</p>${
    localizationHeatmap(l.tensors, first?.name ?? null)
  }${firstLine}${missing}`;
}

function identityBlocks(r: ParityReceipt): Html {
  const faults = r.engine && Object.keys(r.engine.faults ?? {}).length
    ? `test-only faults in effect: ${JSON.stringify(r.engine.faults)}`
    : null;
  const refErr = r.reference?.error ? `did not run (${r.reference.error.kind}): ${r.reference.error.message}` : null;
  const engErr = r.engine?.error ? `did not run: ${r.engine.error.message}` : null;
  return html`<div class="idents">${
    join([
      identityBlock("Reference", r.reference, {
        fields: [
          { key: "library", label: "library" },
          { key: "release", label: "release" },
          { key: "version", label: "version" },
          { key: "commit", label: "commit", mono: true },
          { key: "ggml_commit", label: "ggml", mono: true },
          { key: "source", label: "source" },
          { key: "backend", label: "backend" },
          { key: "settings", label: "settings" },
          { key: "ran", label: "ran" },
        ],
        skip: ["error", "timeout_ms", "add_bos", "add_eos"],
        alert: refErr,
      }),
      identityBlock("Engine", r.engine, {
        fields: [
          { key: "backend", label: "backend" },
          { key: "threads", label: "threads" },
          { key: "n_ctx", label: "n_ctx" },
          { key: "kernels", label: "kernels", mono: true },
          { key: "ran", label: "ran" },
        ],
        skip: ["error", "faults", "tokenizer_sha256"],
        alert: faults ?? engErr,
      }),
      identityBlock("Model", r.model, {
        fields: [
          { key: "lock_name", label: "name" },
          { key: "path", label: "path", mono: true },
          { key: "sha256", label: "sha256", mono: true },
          { key: "size_bytes", label: "size", render: (v) => bytes(v as number) },
          { key: "arch", label: "arch" },
          { key: "weight_type", label: "weights" },
          { key: "embedding_type", label: "embedding" },
          { key: "n_layer", label: "layers" },
          { key: "n_vocab", label: "vocab" },
        ],
      }),
      identityBlock("Tokenizer", r.tokenizer, {
        fields: [
          { key: "model", label: "model" },
          { key: "pre", label: "pre" },
          { key: "vocab_sha256", label: "vocab sha256", mono: true },
          { key: "n_tokens", label: "tokens" },
          { key: "bos_id", label: "BOS" },
          { key: "eos_id", label: "EOS" },
          { key: "add_bos", label: "add BOS" },
        ],
        skip: ["add_eos", "parse_special"],
      }),
      identityBlock("Machine", r.machine, {
        fields: [
          { key: "cpu", label: "CPU" },
          { key: "cores", label: "cores" },
          { key: "memory_bytes", label: "memory", render: (v) => bytes(v as number) },
          { key: "os", label: "OS" },
          { key: "runtime", label: "runtime" },
          { key: "fingerprint", label: "fingerprint", mono: true },
        ],
      }),
      identityBlock("Tool", r.tool, {
        fields: [
          { key: "name", label: "name" },
          { key: "version", label: "version" },
          { key: "commit", label: "commit", mono: true },
          { key: "dirty", label: "dirty tree" },
        ],
      }),
    ])
  }</div>`;
}

/**
 * Render a parity receipt.
 *
 * @param i The receipt, its source, its verification problems and optional decoded pieces.
 * @returns The `<section>`.
 */
export function paritySection(i: ParitySectionInput): Html {
  const r = i.receipt;
  const verified = i.problems.length === 0;
  const own = receiptPieces(r);
  const piece: PieceOf = (id) => own.get(id) ?? i.pieces?.get(id) ?? null;
  const name = r.model?.lock_name ?? basename(r.model?.path ?? i.source);
  const reasons = r.reasons?.length ? html`<ul class="reasons">${join(r.reasons.map(reasonItem))}</ul>` : "";
  const unverified = verified ? "" : html`
    <p
      class="alert">This receipt did not verify (${i.problems
        .length} problem(s), listed at the top): it is not evidence, whatever its status says.</p>
  `;
  const refName = r.reference?.library ?? "reference";
  return html`
    <section class="receipt parity" id="${i.anchor}" data-kind="parity" data-status="${String(r.status)}"
      data-verified="${verified}"><header class="receipt-head"><div><h2>Parity · ${name}</h2><p class="sub">${i
        .source} · ${r.timestamp} · model <span class="mono" title="${r.model_sha256}">${short(
          r.model_sha256,
        )}</span> · ${r.model?.arch} ${r.model?.weight_type ?? ""} · engine ${r.engine?.backend ??
        "–"} vs ${refName} ${r.reference?.release ?? ""}</p></div>${badge(statusView(r.status, verified), {
          big: true,
        })}</header>${unverified}${reasons}${checksGrid(r, verified)}${metricTiles(
          r,
          verified,
        )}<h3>Localization ${badge(
          statusView(r.checks.localization.status, verified),
        )}</h3>${localizationBlock(r)}<h3>Logits and greedy decoding, per prompt</h3>${promptBlocks({
          prompts: r.prompts,
          rows: r.checks.logits.rows,
          greedy: r.checks.greedy.prompts,
          stepsRequested: r.checks.greedy.steps_requested,
          thresholds: r.thresholds ?? null,
          piece,
          verified,
          referenceName: refName,
        })}<h3>Identity</h3>${identityBlocks(r)}</section>
  `;
}
