import assert from "node:assert/strict";
import { parseDocument } from "./_testing.ts";
import { lineChart } from "./line_chart.ts";

const dom = (markup: string) => parseDocument(markup);

Deno.test("lineChart() draws every point, marks those beyond a gate, and NaN positions", () => {
  const points = [0.999, 0.98, null, 0.995].map((y, x) => ({ x, y, tip: `pos ${x}` }));
  const d = dom(
    lineChart({
      label: "cosine",
      points,
      gates: [{ y: 0.99, label: "min 0.99", bound: "min" }],
      marker: { x: 1, label: "first" },
    }).text,
  );
  assert.equal(d.querySelectorAll("circle.pt").length, 3);
  assert.equal(d.querySelectorAll("circle.pt.bad").length, 1, "0.98 is below the 0.99 gate");
  assert.equal(d.querySelectorAll("g.nan").length, 1);
  assert.equal(d.querySelectorAll("line.gate").length, 1);
  assert.equal(d.querySelectorAll("line.marker").length, 1);
  assert.equal(d.querySelectorAll("polyline.series").length, 1, "the NaN splits the line; one segment has 2+ points");
  assert.match(d.querySelector("circle.pt.bad title")!.textContent!, /pos 1/);
});

Deno.test("lineChart(): a gate that only references (bound null) marks no point", () => {
  const d = dom(
    lineChart({
      label: "kld",
      points: [{ x: 0, y: 0.01, tip: "p" }],
      gates: [{ y: 0.005, label: "mean", bound: null }],
    }).text,
  );
  assert.equal(d.querySelectorAll("circle.pt.bad").length, 0);
  assert.equal(d.querySelectorAll("line.gate.ref").length, 1);
});
