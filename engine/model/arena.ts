/**
 * Weights in the kernel arena: {@link placeWeights} allocates every tensor of an architecture's manifest that the
 * file holds (members of a fused group back to back, so that a single-token step multiplies them with one
 * dispatch), and {@link PlacedWeights.read} copies them from the file, straight into a host-visible arena or
 * through `KernelBackend.write`. Tensors with the `host` role stay in the file (the host reads them itself).
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import type { KernelBackend } from "../backends/backend.ts";
import { GgmlType, ggmlTypeName } from "../quant/ggml_type.ts";
import type { TensorRole, TensorSpec } from "./manifest.ts";

/** A tensor placed in the arena. */
export interface ArenaTensor {
  /** GGUF name. */
  readonly name: string;
  /** GGML type id. */
  readonly type: number;
  /** GGML shape (`[ne0, ne1]` = `[K, N]` for matrices). */
  readonly shape: readonly number[];
  /** Byte offset in the arena. */
  readonly ptr: number;
  /** Byte size. */
  readonly bytes: number;
}

/** A matrix and its optional per-tensor scale. */
export interface Projection {
  /** The weight `[K, N]`. */
  readonly w: ArenaTensor;
  /** The `{1}` scale tensor, if the file has one. */
  readonly scale?: ArenaTensor;
}

/** Projections of one input placed back to back in the arena: one matrix, one matmul for a single token. */
export interface FusedProjection {
  /** The parts as one `[K, sum of N]` matrix. */
  readonly w: ArenaTensor;
  /** The parts, in output order (their scales apply to their slices of the output). */
  readonly parts: readonly Projection[];
}

/** Projections of one layer multiplied by the same input, fused for single-token steps in this output order. */
export interface FusedGroup {
  /** Name of the fused matrix (`attn_qkv`). */
  readonly name: string;
  /** Projection names within a layer (`attn_q`, `attn_k`, `attn_v`). */
  readonly parts: readonly string[];
}

/** The groups every decoder architecture here fuses (their inputs: attn_norm, ffn_norm). */
export const FUSED_GROUPS: readonly FusedGroup[] = [
  { name: "attn_qkv", parts: ["attn_q", "attn_k", "attn_v"] },
  { name: "ffn_up_gate", parts: ["ffn_up", "ffn_gate"] },
];

/** Weight types whose rows are independent blocks, so that tensors placed back to back form one matrix. */
const ROW_BLOCK_TYPES: ReadonlySet<number> = new Set([GgmlType.TQ1_0, GgmlType.TQ2_0]);

/** The weights of a model, placed in a backend's arena. */
export class PlacedWeights {
  /** Total weight bytes in the arena. */
  readonly bytes: number;
  readonly #tensors: ReadonlyMap<string, ArenaTensor>;
  readonly #roles: ReadonlyMap<string, TensorRole>;
  readonly #path: string;

  private constructor(path: string, tensors: Map<string, ArenaTensor>, roles: Map<string, TensorRole>, bytes: number) {
    this.#path = path;
    this.#tensors = tensors;
    this.#roles = roles;
    this.bytes = bytes;
  }

  /**
   * Allocate every manifest tensor the file holds (arena placement only; {@link read} fills them).
   *
   * @param file The open GGUF file (already checked against `manifest`).
   * @param backend The backend whose arena receives them.
   * @param manifest The architecture's manifest.
   * @returns The placement.
   */
  static place(file: GgufFile, backend: KernelBackend, manifest: readonly TensorSpec[]): PlacedWeights {
    const tensors = new Map<string, ArenaTensor>(), roles = new Map<string, TensorRole>();
    const roleOf = new Map(manifest.map((s) => [s.name, s.role]));
    let bytes = 0;
    const place = (name: string, align: number): void => {
      const info = file.tensor(name);
      if (!info || tensors.has(name) || roleOf.get(name) === "host") return;
      const ptr = backend.alloc(info.byteLength, align);
      tensors.set(name, { name, type: info.type, shape: info.shape, ptr, bytes: info.byteLength });
      roles.set(name, roleOf.get(name)!);
      bytes += info.byteLength;
    };
    for (const spec of manifest) {
      const m = /^blk\.\d+\.(\w+)\.weight$/.exec(spec.name);
      const group = m ? FUSED_GROUPS.find((g) => g.parts.includes(m[1])) : undefined;
      if (group) {
        // The group's parts back to back when they share a row-block type (alignment 1 after the first).
        const names = group.parts.map((p) => spec.name.replace(`.${m![1]}.`, `.${p}.`));
        const infos = names.map((n) => file.tensor(n));
        const fusable = infos.every((i) => i && ROW_BLOCK_TYPES.has(i.type) && i.type === infos[0]!.type);
        names.forEach((n, i) => place(n, fusable && i > 0 ? 1 : 64));
      }
      place(spec.name, 64);
    }
    return new PlacedWeights(file.path, tensors, roles, bytes);
  }

  /**
   * Copy every placed tensor's bytes from the file into the arena.
   *
   * @param file The file the placement was made from.
   * @param backend The same backend.
   * @param onProgress Bytes read so far and in total.
   */
  read(file: GgufFile, backend: KernelBackend, onProgress?: (loaded: number, total: number) => void): void {
    let loaded = 0;
    for (const t of this.#tensors.values()) {
      const host = backend.hostBuffer;
      if (host) file.readTensor(t.name, new Uint8Array(host, t.ptr, t.bytes));
      else backend.write(t.ptr, file.readTensor(t.name, new Uint8Array(t.bytes)));
      loaded += t.bytes;
      onProgress?.(loaded, this.bytes);
    }
  }

  /**
   * A placed tensor.
   *
   * @param name GGUF name.
   * @returns The tensor.
   * @throws {RangeError} When the file does not hold it (the manifest check lets only optional tensors be absent).
   */
  get(name: string): ArenaTensor {
    const t = this.#tensors.get(name);
    if (!t) throw new RangeError(`Cannot use tensor ${name} of "${this.#path}": the file does not have it`);
    return t;
  }

  /** A placed tensor, or undefined for an absent optional one. */
  optional(name: string): ArenaTensor | undefined {
    return this.#tensors.get(name);
  }

  /** Projection `name` of layer `il` with its optional `.scale`. */
  projection(il: number, name: string): Projection {
    const scale = this.#tensors.get(`blk.${il}.${name}.scale`);
    return { w: this.get(`blk.${il}.${name}.weight`), ...(scale ? { scale } : {}) };
  }

  /** The fused matrix of `group` in layer `il`, when its parts lie back to back with one type. */
  fused(il: number, group: FusedGroup): FusedProjection | undefined {
    const parts = group.parts.map((p) => this.projection(il, p));
    const first = parts[0].w;
    let end = first.ptr;
    for (const { w: t } of parts) {
      if (t.type !== first.type || !ROW_BLOCK_TYPES.has(t.type) || t.ptr !== end || t.shape[0] !== first.shape[0]) {
        return undefined;
      }
      end += t.bytes;
    }
    const w: ArenaTensor = {
      name: `blk.${il}.${group.name} (fused)`,
      type: first.type,
      shape: [first.shape[0], parts.reduce((n, p) => n + p.w.shape[1], 0)],
      ptr: first.ptr,
      bytes: end - first.ptr,
    };
    return { w, parts };
  }

  /** Upper-case type names of the placed tensors with a role, sorted (`["TQ2_0"]`; several when mixed). */
  typeNames(role: TensorRole): string[] {
    const names = new Set<string>();
    for (const [name, r] of this.#roles) if (r === role) names.add(ggmlTypeName(this.#tensors.get(name)!.type));
    return [...names].sort();
  }
}
