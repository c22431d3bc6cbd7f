import assert from "node:assert/strict";
import { parseDocument } from "./_testing.ts";
import { type HeatmapTensor, localizationHeatmap, nmseColor } from "./heatmap.ts";

const t = (name: string, layer: number | null, kind: string, nmse: number | null, status = "ok"): HeatmapTensor => ({
  name,
  layer,
  kind,
  nmse,
  row_nmse_median: nmse,
  clean_rows: 8,
  new_error_rows: status === "exceeded" ? 8 : 0,
  tolerance: 1e-9,
  status,
});

Deno.test("localizationHeatmap(): one cell per tensor, rows per layer plus output, the first divergence outlined", () => {
  const tensors = [
    t("attn_norm-0", 0, "attn_norm", 0),
    t("Kcur-0", 0, "Kcur", 1e-12),
    t("attn_norm-1", 1, "attn_norm", 0),
    t("Kcur-1", 1, "Kcur", 0.3, "exceeded"),
    t("result_norm", null, "result_norm", 0.2, "undetermined"),
    t("result_output", null, "result_output", null, "reference_crashed"),
  ];
  const document = parseDocument(localizationHeatmap(tensors, "Kcur-1").text);
  assert.equal(document.querySelectorAll("g.cell").length, 6);
  const first = document.querySelectorAll("g.cell.first");
  assert.equal(first.length, 1);
  assert.equal(first[0]!.getAttribute("data-name"), "Kcur-1");
  assert.equal(document.querySelectorAll("rect.first-outline").length, 1);
  assert.deepEqual(
    [...document.querySelectorAll(".row-label")].map((e) => e.textContent),
    ["layer 0", "layer 1", "output"],
  );
  // exceeded and an unknown status are failing; undetermined and ok are not
  const failing = [...document.querySelectorAll("g.cell.failing")].map((e) => e.getAttribute("data-name"));
  assert.deepEqual(failing, ["Kcur-1", "result_output"]);
  assert.match(document.querySelector('g[data-name="Kcur-1"] title')!.textContent!, /NMSE 0\.3/);
});

Deno.test("nmseColor(): exact zero white, no number grey, larger errors darker", () => {
  assert.equal(nmseColor(0), "#ffffff");
  assert.equal(nmseColor(null), nmseColor(NaN));
  const lum = (c: string) => [1, 3, 5].reduce((a, k) => a + parseInt(c.slice(k, k + 2), 16), 0);
  assert.ok(lum(nmseColor(1e-14)) > lum(nmseColor(1e-6)) && lum(nmseColor(1e-6)) > lum(nmseColor(0.5)));
});
