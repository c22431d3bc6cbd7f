/**
 * The report's style sheet: one inline `<style>` element, allowed by the page's Content-Security-Policy through its
 * SHA-256 (no inline `style` attributes anywhere, so nothing else needs `unsafe-inline`). Colours: GitHub's Primer
 * functional palette for verdicts (green, red, amber, each with a tinted background), blue for our engine and
 * orange for the reference in every chart.
 *
 * @module
 */

/** The style sheet. */
export const REPORT_CSS: string = `
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; --card: #ffffff;
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9; --warn: #9a6700; --warn-bg: #fff8c5;
  --engine: #0969da; --reference: #bc4c00; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  "Noto Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 0; }
h3 { font-size: 15px; margin: 28px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h4 { font-size: 14px; margin: 0 0 6px; }
h5 { font-size: 13px; margin: 12px 0 6px; font-weight: 600; }
code, .mono, pre { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 12px; }
.mono { word-break: break-all; }
.muted { color: var(--muted); }
.sub { color: var(--muted); margin: 4px 0 0; }
.page-head { display: flex; align-items: center; justify-content: space-between; gap: 16px; margin-bottom: 16px; }
.page-head p { margin: 4px 0 0; color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11px; font-weight: 700;
  letter-spacing: 0.04em; border: 1px solid; white-space: nowrap; vertical-align: 1px; }
.badge.big { font-size: 15px; padding: 4px 14px; }
.badge.pass { color: var(--pass); background: var(--pass-bg); border-color: var(--pass); }
.badge.fail { color: var(--fail); background: var(--fail-bg); border-color: var(--fail); }
.badge.warn { color: var(--warn); background: var(--warn-bg); border-color: var(--warn); }
.card, .receipt, .summary, .problems { background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.receipt { padding: 20px 24px; margin: 20px 0; }
.receipt-head { display: flex; justify-content: space-between; align-items: flex-start; gap: 16px; }
.summary { width: 100%; border-collapse: separate; border-spacing: 0; overflow: hidden; table-layout: fixed; }
.summary td { overflow-wrap: anywhere; }
.w-src { width: 22%; } .w-kind { width: 7%; } .w-model { width: 16%; } .w-verdict { width: 12%; } .w-ver { width: 8%; }
.summary th, .summary td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
.summary tr:last-child td { border-bottom: 0; }
.summary th { background: var(--bg); font-size: 12px; color: var(--muted); font-weight: 600; }
.summary a { color: var(--fg); font-weight: 600; text-decoration: none; }
.problems { border-color: var(--fail); background: var(--fail-bg); padding: 12px 18px; margin: 16px 0; color: #82071e; }
.problems h2 { font-size: 15px; color: var(--fail); margin-bottom: 6px; }
.problems ul { margin: 4px 0 8px; padding-left: 20px; }
.problems code { color: #82071e; }
.alert { color: #82071e; background: var(--fail-bg); border-left: 4px solid var(--fail); padding: 8px 12px;
  margin: 12px 0; white-space: pre-wrap; word-break: break-word; }
.reasons { list-style: none; padding: 0; margin: 14px 0; }
.reasons li { border-left: 4px solid var(--fail); background: var(--fail-bg); padding: 3px 10px; margin: 3px 0;
  font-size: 13px; }
.msg { margin: 4px 0 0; white-space: pre-wrap; word-break: break-word; }
details summary { cursor: pointer; color: var(--muted); font-size: 12px; }
.tag { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 4px; background: #eff2f5;
  border: 1px solid var(--line); color: var(--muted); font-weight: 600; }
.checks { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0; }
.check { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.check-head { display: flex; justify-content: space-between; align-items: center; margin-bottom: 4px; }
.check-name { font-weight: 600; }
.check-detail { color: var(--muted); font-size: 12px; word-break: break-word; }
.tiles { display: grid; grid-template-columns: repeat(7, 1fr); gap: 8px; margin: 10px 0 4px; }
.tile { border: 1px solid var(--line); border-top: 3px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.tile.pass { border-top-color: var(--pass); } .tile.fail { border-top-color: var(--fail); }
.tile.warn { border-top-color: var(--warn); }
.tile-label { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
.tile-value { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile.fail .tile-value { color: var(--fail); }
.tile-gate { font-size: 11px; color: var(--muted); }
.prompt { border-top: 1px solid var(--line); padding: 14px 0 8px; }
.prompt:first-of-type { border-top: 0; }
.prompt-text { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; margin: 0 0 8px;
  white-space: pre-wrap; word-break: break-word; max-height: 6.5em; overflow: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 18px; }
figure { margin: 0; }
figcaption { font-size: 12px; color: var(--muted); margin-bottom: 2px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
.chart .grid, .bench-chart .grid { stroke: #eaeef2; }
.axis { stroke: #8c959f; }
.tick { font-size: 10px; fill: var(--muted); }
.series { fill: none; stroke: var(--engine); stroke-width: 1.4; }
.pt { fill: var(--engine); } .pt.bad { fill: var(--fail); }
.nan text { fill: var(--fail); font-size: 13px; font-weight: 700; }
.gate { stroke: var(--fail); stroke-width: 1; stroke-dasharray: 5 3; }
.gate.ref { stroke: #8c959f; }
.gate-label { font-size: 10px; fill: var(--fail); }
.marker { stroke: var(--fail); stroke-width: 1; opacity: 0.7; }
.marker-label { font-size: 10px; fill: var(--fail); font-weight: 600; }
.greedy h5 .badge { margin: 0 4px; }
.strip { display: flex; flex-wrap: wrap; gap: 2px; align-items: stretch; }
.step { display: flex; flex-direction: column; min-width: 28px; border: 1px solid transparent; border-radius: 4px;
  padding: 1px 2px; position: relative; }
.step .sn { font-size: 9px; color: #8c959f; text-align: center; }
.tok { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; white-space: pre;
  padding: 1px 4px; border-radius: 3px; text-align: center; }
.tok.e { background: #ddf4ff; color: #0a3069; }
.tok.r { background: #fff1e5; color: #762c00; margin-top: 2px; }
.tok.r.same { background: #f6f8fa; color: #8c959f; }
.tok.id { color: var(--muted); }
.tok .ws { opacity: 0.35; }
.tok.none { background: transparent; color: #8c959f; }
.step.legend .tok { font-family: inherit; font-size: 11px; font-weight: 600; }
.step.legend .sn { text-align: right; }
.step.tie { background: var(--warn-bg); border-color: var(--warn); }
.step.fail { background: var(--fail-bg); border-color: var(--fail); }
.step.first { border: 2px solid var(--fail); }
.step.first.tie { border-color: var(--warn); }
.step.first .sn { color: var(--fail); font-weight: 700; }
.step.first.tie .sn { color: var(--warn); }
.first-note { font-size: 12px; margin: 2px 0 6px; font-weight: 600; }
.first-note.fail { color: var(--fail); } .first-note.tie { color: var(--warn); }
.prompt-list { padding-left: 24px; } .prompt-list li { margin: 4px 0; }
.note { font-size: 12px; color: var(--muted); margin: 4px 0; }
.heatmap-wrap { overflow-x: auto; }
.col-label, .row-label { font-size: 10px; fill: var(--fg); }
.row-label { fill: var(--muted); }
.cell rect { stroke: #d8dee4; stroke-width: 0.75; }
.cell.failing rect { stroke: var(--fail); stroke-width: 1; }
.glyph { font-size: 11px; font-weight: 700; fill: #1f2328; }
.glyph.on-dark { fill: #ffffff; }
.first-outline { fill: none; stroke: var(--fail); stroke-width: 3; }
.swatch { stroke: var(--line); }
.first-line { margin: 8px 0; }
.outline-key { display: inline-block; width: 14px; height: 10px; border: 3px solid var(--fail); vertical-align: -1px; }
.idents { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; }
.ident { padding: 10px 14px; }
.ident dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 6px 0 0; font-size: 12px; }
.ident dt { color: var(--muted); }
.ident dd { margin: 0; word-break: break-word; }
table.bench { border-collapse: collapse; width: 100%; margin: 10px 0; font-variant-numeric: tabular-nums; }
table.bench th, table.bench td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; }
table.bench th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--bg); }
table.bench td.num { text-align: right; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12px; }
.sample { fill-opacity: 0.55; } .sample.engine { fill: var(--engine); } .sample.reference { fill: var(--reference); }
.sd { stroke-width: 6; stroke-opacity: 0.18; stroke-linecap: round; }
.sd.engine { stroke: var(--engine); } .sd.reference { stroke: var(--reference); }
.median { stroke-width: 2.5; } .median.engine { stroke: var(--engine); } .median.reference { stroke: var(--reference); }
.base-median { stroke: var(--fg); stroke-width: 1.5; stroke-dasharray: 3 2; }
.value { font-size: 11px; fill: var(--fg); font-weight: 600; }
.ci { stroke: var(--engine); stroke-width: 2.5; stroke-linecap: round; }
.ratio-dot { fill: var(--engine); }
.base-ratio { fill: none; stroke: var(--fg); stroke-width: 1.5; }
.parity-line { stroke: #8c959f; stroke-dasharray: 4 3; }
.legend-line { font-size: 12px; color: var(--muted); margin: 4px 0 8px; }
.key { display: inline-block; width: 10px; height: 10px; border-radius: 50%; vertical-align: -1px; }
.key.engine { background: var(--engine); } .key.reference { background: var(--reference); }
.key.base { border-radius: 0; width: 2px; height: 12px; background: var(--fg); }
.verdicts, .warnings { padding-left: 18px; }
.verdicts li, .warnings li { margin: 4px 0; }
.warnings li { color: var(--warn); }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
@media (max-width: 1000px) { .checks { grid-template-columns: repeat(2, 1fr); } .tiles { grid-template-columns: repeat(3, 1fr); }
  .idents { grid-template-columns: 1fr; } }
`;
