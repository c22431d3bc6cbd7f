/**
 * {@link checkKernelIds}: the kernel-list hygiene that parity and bench receipts share. A receipt is evidence that
 * our engine computed something only when its recorded kernel ids are real ids (`<backend>.<op>[.<variant>]`,
 * kernels-wasm/ABI.md), of the backend that ran, each listed once, none naming a stand-in, and at least one of them
 * a matrix product.
 *
 * @module
 */

import type { ReceiptProblem } from "./problem.ts";

/** Kernel ids: `<backend>.<op>[.<variant>]` (kernels-wasm/ABI.md), at most 128 characters. */
const KERNEL_ID = /^(wasm|ref|webgpu)\.[a-z0-9_]+(\.[a-z0-9_]+)*$/;
/** Words that mark a stand-in rather than a kernel (BitNet-rs only looked for "mock"). */
export const FAKE_KERNEL: RegExp = /mock|stub|fake|dummy|noop|no_op|placeholder|simulat|pretend/i;
/** Evidence that real matrix products ran. */
const MATMUL_KERNEL = /\.(gemm|gemv|matmul|mul_mat)(\.|$)/;

/**
 * Check the engine's kernel list of a receipt; problems are located under `/engine/kernels`.
 *
 * @param kernels Kernel ids as recorded (`engine.kernels`).
 * @param backend The backend that ran (`wasm`, `ref`); null when unknown, which skips the backend check.
 * @returns Every problem found; empty when the list looks like a real forward pass.
 * @example
 * ```ts
 * import { checkKernelIds } from "./kernel_ids.ts";
 * console.log(checkKernelIds(["wasm.gemv.tq2_0", "wasm.rmsnorm"], "wasm").length); // 0
 * console.log(checkKernelIds(["wasm.mock_gemv"], "wasm").map((p) => p.code)); // ["kernel_fake", "kernels_no_matmul"]
 * ```
 */
export function checkKernelIds(kernels: readonly string[], backend: string | null): ReceiptProblem[] {
  const problems: ReceiptProblem[] = [];
  const add = (path: string, code: string, message: string) => problems.push({ path, code, message });
  if (kernels.length === 0) {
    add("/engine/kernels", "kernels_empty", "no kernel ids recorded: nothing shows that our engine computed anything");
    return problems;
  }
  const seen = new Set<string>();
  kernels.forEach((k, i) => {
    if (k.length > 128 || !KERNEL_ID.test(k)) {
      add(`/engine/kernels/${i}`, "kernel_id", `"${k}" is not a kernel id <backend>.<op>[.<variant>]`);
    }
    if (FAKE_KERNEL.test(k)) add(`/engine/kernels/${i}`, "kernel_fake", `"${k}" names a stand-in, not a kernel`);
    if (backend && !k.startsWith(`${backend}.`)) {
      add(`/engine/kernels/${i}`, "kernel_backend", `"${k}" is not a ${backend} kernel`);
    }
    if (seen.has(k)) add(`/engine/kernels/${i}`, "kernel_duplicate", `"${k}" is listed twice`);
    seen.add(k);
  });
  if (!kernels.some((k) => MATMUL_KERNEL.test(k))) {
    add(
      "/engine/kernels",
      "kernels_no_matmul",
      "no matrix-product kernel (gemm/gemv) ran: that is not a transformer forward pass",
    );
  }
  return problems;
}
