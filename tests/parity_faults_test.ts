/**
 * The harness can fail: known implementation bugs are injected into our engine through its test-only fault
 * patch (parity/faults.ts: a backend wrapper at the named hook points, a flipped-weight file copy) and each must be caught, by the expected check, and (all of these are layer
 * faults) localized to the injected layer and a plausible first op. Gross faults (wrong RoPE pairing, wrong
 * position, missing sub-norm, wrong activation) move the logits far beyond the gates; subtle ones (one flipped
 * ternary sign, per-token activation scales) stay within rounding noise at the logits on these random models
 * and are caught op by op (docs/parity.md, "Calibration"). Needs the llama.cpp library.
 */
import assert from "node:assert/strict";
import type { Faults } from "../parity/faults.ts";
import { DEFAULT_PROMPTS, runParityOnModel } from "../parity/mod.ts";
import type { ParityReceipt } from "../receipts/parity_receipt.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import { fixtureModel } from "./_fixtures.ts";

interface FaultCase {
  /** What is injected. */
  readonly faults: Faults;
  /** The layer it breaks. */
  readonly layer: number;
  /** Checks that must fail. */
  readonly caughtBy: readonly ("logits" | "greedy" | "localization")[];
  /** Ops the first divergence may be localized to (in that layer). */
  readonly firstOp: readonly string[];
}

const CASES: Record<string, FaultCase> = {
  "wrong RoPE pairing (NORMAL instead of NEOX)": {
    faults: { ropeNorm: 1 },
    layer: 1,
    caughtBy: ["logits", "localization"],
    firstOp: ["Qcur", "Kcur"],
  },
  "off-by-one position": {
    faults: { positionOffByOne: 2 },
    layer: 2,
    caughtBy: ["logits", "localization"],
    firstOp: ["Qcur", "Kcur", "kqv_out"],
  },
  "missing attention sub-norm": {
    faults: { skipSubNorm: 3 },
    layer: 3,
    caughtBy: ["logits", "localization"],
    firstOp: ["attn_sub_norm", "attn_out"],
  },
  "SiLU <-> relu2 swapped": {
    faults: { swapActivation: 1 },
    layer: 1,
    caughtBy: ["logits", "localization"],
    firstOp: ["ffn_sub_out"],
  },
  "sign error in one ternary code (ffn_down)": {
    faults: { flipTernarySign: { layer: 2 } },
    layer: 2,
    caughtBy: ["localization"],
    firstOp: ["ffn_down"],
  },
  "sign error in one ternary code (attn_q)": {
    faults: { flipTernarySign: { layer: 0, tensor: "attn_q" } },
    layer: 0,
    caughtBy: ["localization"],
    firstOp: ["Qcur"],
  },
  "per-token instead of per-block activation quantization": {
    faults: { perTokenActQuant: 3 },
    layer: 3,
    caughtBy: ["localization"],
    // Only inputs longer than one 256-block can differ: ffn_down (n_ff = 768) in the tiny shape.
    firstOp: ["Qcur", "Kcur", "Vcur", "attn_out", "ffn_up", "ffn_gate", "ffn_down"],
  },
};

/** Three prompts (prose, code, chat markup with special tokens) and 8 steps keep each run well under a second. */
const PROMPTS = [DEFAULT_PROMPTS[0], DEFAULT_PROMPTS[2], DEFAULT_PROMPTS[5]];

function failing(r: ParityReceipt): string[] {
  return (["tokenization", "logits", "greedy", "localization"] as const).filter((c) => r.checks[c].status === "fail");
}

for (const [name, c] of Object.entries(CASES)) {
  Deno.test(`the harness catches and localizes a fault: ${name}`, async () => {
    const r = await runParityOnModel(await fixtureModel({ layers: 4 }), {
      faults: c.faults,
      prompts: PROMPTS,
      steps: 8,
    });
    const why = `checks failing: ${failing(r).join(", ")}; reasons: ${r.reasons.map((x) => x.code).join(", ")}`;
    assert.equal(r.status, "fail", why);
    assert.equal(r.checks.tokenization.status, "pass", "a forward-pass fault does not touch tokenization");
    for (const check of c.caughtBy) assert.equal(r.checks[check].status, "fail", `${check} must catch it; ${why}`);
    const first = r.checks.localization.first_exceedance;
    assert.ok(first, "localization names a first divergent op");
    assert.equal(first.layer, c.layer, `localized to ${first.name}, injected at layer ${c.layer}`);
    assert.ok(
      c.firstOp.includes(first.kind),
      `first op ${first.name} (${first.status}) is one of ${c.firstOp.join(", ")}`,
    );
    // Nothing before the injected layer is blamed.
    for (const t of r.checks.localization.tensors) {
      if (t.layer !== null && t.layer < c.layer) {
        assert.notEqual(t.status, "exceeded", `${t.name} blamed before layer ${c.layer}`);
      }
    }
    // A receipt produced with injected faults is never valid evidence.
    assert.ok(verifyReceipt(JSON.parse(JSON.stringify(r))).some((p) => p.code === "engine_faults"));
  });
}

Deno.test("without a fault the same run passes (the fault cases above are not failing for another reason)", async () => {
  const r = await runParityOnModel(await fixtureModel({ layers: 4 }), { prompts: PROMPTS, steps: 8 });
  assert.equal(r.status, "pass", r.reasons.map((x) => x.message).join("\n"));
  assert.equal(r.checks.localization.first_exceedance, null);
});
