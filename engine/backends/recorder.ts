/**
 * {@link KernelRecorder}: which kernels actually executed, in first-run order, with call counts. Backends record
 * every kernel launch here; receipts use the ids as evidence that real compute ran (a receipt that names
 * `wasm.gemm.tq2_0_q8_k.relaxed` with thousands of calls was not produced by a stub).
 *
 * Ids are `<backend>.<kernel id>[.<variant>]` (kernels-wasm/ABI.md), e.g. `ref.rms_norm`,
 * `wasm.gemm.tq2_0_q8_k.simd128`.
 *
 * @module
 */

/** One recorded kernel with the number of launches seen. */
export interface KernelRecord {
  /** `<backend>.<kernel id>[.<variant>]`. */
  readonly id: string;
  /** Launches since the recorder was created or reset. */
  readonly calls: number;
}

/**
 * Records kernel launches.
 *
 * @example
 * ```ts
 * import { KernelRecorder } from "./recorder.ts";
 * const rec = new KernelRecorder();
 * rec.record("ref.rms_norm");
 * rec.record("ref.gemm.tq2_0_q8_k");
 * rec.record("ref.rms_norm");
 * console.log(rec.ids()); // ["ref.rms_norm", "ref.gemm.tq2_0_q8_k"]
 * console.log(rec.records()[0].calls); // 2
 * ```
 */
export class KernelRecorder {
  #calls = new Map<string, number>();

  /**
   * Note one launch of a kernel.
   *
   * @param id `<backend>.<kernel id>[.<variant>]`.
   */
  record(id: string): void {
    this.#calls.set(id, (this.#calls.get(id) ?? 0) + 1);
  }

  /**
   * Ids seen, in first-run order.
   *
   * @returns A fresh array of ids.
   */
  ids(): string[] {
    return [...this.#calls.keys()];
  }

  /**
   * Ids with their launch counts, in first-run order.
   *
   * @returns A fresh array of records.
   */
  records(): KernelRecord[] {
    return [...this.#calls].map(([id, calls]) => ({ id, calls }));
  }

  /** Total launches recorded. */
  get totalCalls(): number {
    let n = 0;
    for (const c of this.#calls.values()) n += c;
    return n;
  }

  /** Forget everything recorded so far. */
  reset(): void {
    this.#calls.clear();
  }
}
