/**
 * Weights in the kernel arena: {@link PlacedWeights.place} allocates every tensor of an architecture's manifest
 * that the file holds (members of a fused group back to back, so that a single-token step multiplies them with one
 * dispatch), and {@link PlacedWeights.read} copies them from the file, straight into a host-visible arena or
 * through `KernelBackend.write`, then rewrites the matrices whose matmul in the numerics profile reads another
 * layout (`type_kernels.ts` `repack`: the fast profile's TQ2_0x2) with the profile's repack kernel, in the arena.
 * Tensors with the `host` role stay in the file (the host reads them itself).
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import type { KernelBackend } from "../backends/backend.ts";
import { type NumericsProfile, TYPE_KERNELS, type WeightRepack } from "../backends/type_kernels.ts";
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

/** Roles whose matrices a profile may repack (the ones only a matmul reads). */
const REPACKED_ROLES: ReadonlySet<TensorRole> = new Set(["ternary", "output"]);

/** The weights of a model, placed in a backend's arena. */
export class PlacedWeights {
  /** Total weight bytes in the arena (repacked sizes; the staging copy of out-of-place repacks excluded). */
  readonly bytes: number;
  readonly #tensors: ReadonlyMap<string, ArenaTensor>;
  readonly #roles: ReadonlyMap<string, TensorRole>;
  readonly #repacks: ReadonlyMap<string, WeightRepack>;
  readonly #staging: number;
  readonly #path: string;

  private constructor(
    path: string,
    tensors: Map<string, ArenaTensor>,
    roles: Map<string, TensorRole>,
    repacks: Map<string, WeightRepack>,
    staging: number,
    bytes: number,
  ) {
    this.#path = path;
    this.#tensors = tensors;
    this.#roles = roles;
    this.#repacks = repacks;
    this.#staging = staging;
    this.bytes = bytes;
  }

  /**
   * Allocate every manifest tensor the file holds (arena placement only; {@link read} fills them).
   *
   * @param file The open GGUF file (already checked against `manifest`).
   * @param backend The backend whose arena receives them.
   * @param manifest The architecture's manifest.
   * @param numerics The profile whose matmuls will read the weights (default `exact`: the file's layout).
   * @returns The placement.
   */
  static place(
    file: GgufFile,
    backend: KernelBackend,
    manifest: readonly TensorSpec[],
    numerics: NumericsProfile = "exact",
  ): PlacedWeights {
    const tensors = new Map<string, ArenaTensor>(), roles = new Map<string, TensorRole>();
    const repacks = new Map<string, WeightRepack>();
    const roleOf = new Map(manifest.map((s) => [s.name, s.role]));
    let bytes = 0, staged = 0;
    const place = (name: string, align: number): void => {
      const info = file.tensor(name);
      const role = roleOf.get(name);
      if (!info || tensors.has(name) || role === "host") return;
      const repack = REPACKED_ROLES.has(role!) ? TYPE_KERNELS[numerics].get(info.type)?.repack : undefined;
      const size = repack ? repack.bytes(info.shape[1] ?? 1, info.shape[0]) : info.byteLength;
      const ptr = backend.alloc(size, align);
      tensors.set(name, { name, type: info.type, shape: info.shape, ptr, bytes: size });
      roles.set(name, role!);
      if (repack) {
        repacks.set(name, repack);
        if (!repack.inPlace) staged = Math.max(staged, info.byteLength);
      }
      bytes += size;
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
    // Out-of-place repacks read the file's bytes into one staging region, the size of the largest such tensor.
    const staging = staged > 0 ? backend.alloc(staged, 64) : 0;
    return new PlacedWeights(file.path, tensors, roles, repacks, staging, bytes);
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
      const repack = this.#repacks.get(t.name);
      const fileBytes = file.tensor(t.name)!.byteLength;
      const at = repack && !repack.inPlace ? this.#staging : t.ptr;
      const host = backend.hostBuffer;
      if (host) file.readTensor(t.name, new Uint8Array(host, at, fileBytes));
      else backend.write(at, file.readTensor(t.name, new Uint8Array(fileBytes)));
      const nOut = t.shape[1] ?? 1, k = t.shape[0];
      if (repack?.inPlace) backend.run(repack.kernel, t.ptr, nOut, k);
      else if (repack) backend.run(repack.kernel, at, t.ptr, nOut, k);
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
    for (const [i, { w: t }] of parts.entries()) {
      if (t.type !== first.type || !ROW_BLOCK_TYPES.has(t.type) || t.ptr !== end || t.shape[0] !== first.shape[0]) {
        return undefined;
      }
      // A row-pair layout only continues across a part boundary that falls between pairs.
      if (this.#repacks.get(t.name)?.rowPairs && i < parts.length - 1 && t.shape[1] % 2 !== 0) return undefined;
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
