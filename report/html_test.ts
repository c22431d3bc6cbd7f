import assert from "node:assert/strict";
import { parseDocument } from "./_testing.ts";
import { escapeHtml, Html, html, join, rawTrustedCss, visiblePiece } from "./html.ts";

Deno.test("html`` escapes interpolated text in content and attributes, so markup from a receipt stays text", () => {
  const piece = `<script>alert("x")</script>' onmouseover='y`;
  const out = html`<p title="${piece}" data-x='${piece}'>${piece}</p>`.text;
  const document = parseDocument(out);
  assert.equal(document.querySelectorAll("script").length, 0);
  const p = document.querySelector("p")!;
  assert.equal(p.textContent, piece);
  assert.equal(p.getAttribute("title"), piece);
  assert.equal(p.getAttribute("data-x"), piece);
  assert.equal(p.getAttribute("onmouseover"), null);
});

Deno.test("html`` inserts Html as markup, lists joined, and nothing for null, undefined and false", () => {
  const inner = html`<b>${"a&b"}</b>`;
  assert.equal(
    html`<i>${inner}${[1, "<", inner]}${null}${undefined}${false}</i>`.text,
    "<i><b>a&amp;b</b>1&lt;<b>a&amp;b</b></i>",
  );
  assert.equal(join(["x", "y"], new Html(", ")).text, "x, y");
  assert.equal(escapeHtml(`&<>"'`), "&amp;&lt;&gt;&quot;&#39;");
});

Deno.test("rawTrustedCss() refuses text that could close the style element", () => {
  assert.throws(() => rawTrustedCss("a{} </style><script>"), RangeError);
  assert.equal(rawTrustedCss("a { color: red }").text, "a { color: red }");
});

Deno.test("visiblePiece() makes whitespace-only and control pieces visible", () => {
  assert.equal(visiblePiece("  "), "␣␣");
  assert.equal(visiblePiece("a\nb\tc\x01"), "a↵b⇥c\\x01");
  assert.equal(visiblePiece(" the"), " the");
});
