/**
 * The commands end to end, as a user runs them: `validate` provisions the CI model into a fresh cache, runs
 * parity, writes the receipt and exits 0 with PASS; `receipt verify` accepts it and rejects a hand-edited copy
 * (exit 1, naming the violation); `parity` exits 2 when the reference cannot run and for bad flags.
 * Needs the llama.cpp library.
 */
import assert from "node:assert/strict";
import { crossval as run } from "../cli/_testing.ts";
import { fixtureModel } from "./_fixtures.ts";

const crossval = (args: string[], env: Record<string, string> = {}) => run(args, { env });

Deno.test("validate provisions the CI models, passes, writes receipts that verify; an edited copy does not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-validate-" });
  try {
    const out = `${dir}/ci/parity.json`;
    const v = await crossval(["validate", "--steps", "8", "--out", out], { BITNET_MODEL_CACHE_DIR: `${dir}/cache` });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /VALIDATE PASS/);
    assert.match(v.stdout, /tokenization\s*│\s*PASS/);
    assert.match(v.stdout, /min cos/);
    // One receipt per CI model (ci-tiny: bitnet, ci-tiny-llama: llama, against the pinned llama.cpp; ci-tiny-b158:
    // bitnet-b1.58, against ik_llama.cpp), named after it next to --out.
    const receipts = ["ci-tiny", "ci-tiny-llama", "ci-tiny-b158"].map((m) => `${dir}/ci/parity-${m}.json`);
    for (const p of receipts) {
      assert.match(v.stdout, new RegExp(`receipt: ${p}`));
      const ok = await crossval(["receipt", "verify", p]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      const receipt = JSON.parse(await Deno.readTextFile(p));
      if (receipt.model.arch !== "bitnet-b1.58") {
        // Bit-exact with the pinned llama.cpp.
        assert.equal(receipt.reference.library, "llama.cpp");
        assert.equal(receipt.checks.logits.summary.kld.max, 0, `${p}: KLD 0`);
        continue;
      }
      // ik_llama.cpp by default for this architecture, on the proven-lossless F32 transcode, our activations float,
      // judged by the gates calibrated for that comparison.
      assert.equal(receipt.reference.library, "ik_llama.cpp");
      assert.deepEqual(receipt.reference.selection, { flag: "ik_llama", by: "architecture" });
      assert.equal(receipt.reference.input.transcode.verified.equal, true);
      assert.equal(receipt.engine.activations, "float");
      assert.equal(receipt.thresholds.id, "parity-gates/ik_llama-f32-float/1");
    }
    // validate renders the receipts it wrote beside them and prints the page's path.
    assert.match(v.stdout, new RegExp(`report: ${dir}/ci/report\\.html`));
    assert.match(
      await Deno.readTextFile(`${dir}/ci/report.html`),
      /data-kind="parity"\s+data-status="pass"\s+data-verified="true"/,
    );

    const r = JSON.parse(await Deno.readTextFile(receipts[1]));
    r.checks.logits.rows[0].kld = 1;
    await Deno.writeTextFile(`${dir}/edited.json`, JSON.stringify(r));
    const bad = await crossval(["receipt", "verify", "--json", `${dir}/edited.json`]);
    assert.equal(bad.code, 1);
    const report = JSON.parse(bad.stdout);
    assert.equal(report.valid, false);
    assert.ok(report.problems.some((p: { path: string }) => p.path === "/checks/logits/status"), bad.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parity exits 2 (not run) when llama.cpp cannot run the model, and says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-parity-" });
  try {
    const r = await crossval([
      "parity",
      "--model",
      await fixtureModel({ layers: 2, type: "i2_s" }),
      "--steps",
      "2",
      "--out",
      `${dir}/p.json`,
    ]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /NOT RUN/);
    // Why (the type) and the fix for this very file.
    assert.match(r.stdout, /of type I2_S: I2_S \(type 36\) is bitnet\.cpp's format/);
    assert.match(r.stdout, /Fix: crossval convert \S+\.gguf --to tq2_0 --out \S+-tq2_0\.gguf/);
    const receipt = JSON.parse(await Deno.readTextFile(`${dir}/p.json`));
    assert.equal(receipt.status, "not_run");
    assert.equal(receipt.reference.error.kind, "unsupported");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reference chosen for an architecture it cannot run is refused by name, pointing at the one that can", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-parity-" });
  try {
    const cases = [
      // The pinned llama.cpp has no bitnet-b1.58 (its bitnet graph computes SiLU): ik_llama.cpp is the fix.
      {
        model: await fixtureModel({ arch: "bitnet-b1.58", type: "i2_s", layers: 1 }),
        reference: "llama.cpp",
        why: /has no bitnet-b1\.58 architecture, and its bitnet graph hard-codes SiLU.*Fix: --reference ik_llama\./,
      },
      // ik_llama.cpp is not verified for llama; the pinned llama.cpp is.
      {
        model: await fixtureModel({ preset: "tiny-llama", arch: "llama", layers: 1 }),
        reference: "ik_llama",
        why: /not verified to compute architecture "llama" \(verified: bitnet-b1\.58\)\. Fix: --reference llama\.cpp\./,
      },
    ];
    for (const c of cases) {
      const out = `${dir}/p-${c.reference}.json`;
      const r = await crossval([
        "parity",
        "--model",
        c.model,
        "--reference",
        c.reference,
        "--steps",
        "2",
        "--out",
        out,
      ]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout, c.why);
      const receipt = JSON.parse(await Deno.readTextFile(out));
      assert.equal(receipt.status, "not_run");
      assert.equal(receipt.reference.ran, false);
      assert.equal(receipt.reference.error.kind, "unsupported");
      assert.deepEqual(receipt.reference.selection, { flag: c.reference, by: "flag" });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parity rejects --model with --tier, and a missing model file, as usage errors (exit 2)", async () => {
  const both = await crossval(["parity", "--model", "x.gguf", "--tier", "ci"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /exactly one of --model/);
  const missing = await crossval(["parity", "--model", "/nonexistent/model.gguf"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Cannot find model/);
});
