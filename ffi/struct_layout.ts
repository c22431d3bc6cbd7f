/**
 * The C struct layouts the binding is written against: llama.cpp release v0.5.0 (`include/llama.h`,
 * `ggml/include/ggml.h`). Each layout is a field list in declaration order; offsets follow the x86-64 System V
 * rules (every field aligned to its own size, the struct padded to its largest alignment). The same lists drive
 * the Deno FFI struct types, the byte-level field access, and the C probe that proves them against a header
 * (`abi_probe.ts`), so there is one source of truth.
 *
 * @module
 */

/** A C scalar type as the binding sees it. Enums are `i32` (C `int`), `bool` is one byte. */
export type CScalar = "bool" | "i8" | "u8" | "i32" | "u32" | "f32" | "i64" | "u64" | "usize" | "f64" | "pointer";

/** One field: C name, scalar type, and an element count for fixed-size arrays (`char name[64]`). */
export interface StructFieldSpec {
  /** Field name exactly as in the C header (the probe uses it in `offsetof`). */
  readonly name: string;
  /** Scalar type of one element. */
  readonly type: CScalar;
  /** Array length for `T name[N]`; 1 for a plain field. */
  readonly count: number;
}

/** A field with its computed place in the struct. */
export interface StructField extends StructFieldSpec {
  /** Byte offset from the start of the struct. */
  readonly offset: number;
  /** Byte size of the whole field (element size times count). */
  readonly size: number;
}

/** A computed struct layout. */
export interface StructLayout {
  /** C name, e.g. `struct llama_context_params`. */
  readonly cName: string;
  /** Total size in bytes, padding included. */
  readonly size: number;
  /** Alignment in bytes. */
  readonly align: number;
  /** Fields in declaration order. */
  readonly fields: readonly StructField[];
}

const SCALAR_SIZE: Record<CScalar, number> = {
  bool: 1,
  i8: 1,
  u8: 1,
  i32: 4,
  u32: 4,
  f32: 4,
  i64: 8,
  u64: 8,
  usize: 8,
  f64: 8,
  pointer: 8,
};

/**
 * Compute a layout from fields in declaration order (x86-64 System V: natural alignment).
 *
 * @param cName C type name used by the probe (`struct llama_batch`).
 * @param fields `[name, type]` or `[name, type, count]` tuples in declaration order.
 * @returns The layout with offsets, size and alignment.
 * @example
 * ```ts
 * import { defineStruct } from "./struct_layout.ts";
 * const s = defineStruct("struct pair", [["a", "i32"], ["b", "pointer"]]);
 * console.log(s.size); // 16
 * ```
 */
export function defineStruct(
  cName: string,
  fields: readonly (readonly [string, CScalar] | readonly [string, CScalar, number])[],
): StructLayout {
  let offset = 0;
  let align = 1;
  const out: StructField[] = [];
  for (const [name, type, count = 1] of fields) {
    const el = SCALAR_SIZE[type];
    offset = Math.ceil(offset / el) * el;
    align = Math.max(align, el);
    out.push({ name, type, count, offset, size: el * count });
    offset += el * count;
  }
  return { cName, size: Math.ceil(offset / align) * align, align, fields: out };
}

/** `struct llama_model_params` of v0.5.0 (`include/llama.h`). */
export const LLAMA_MODEL_PARAMS: StructLayout = defineStruct("struct llama_model_params", [
  ["devices", "pointer"],
  ["tensor_buft_overrides", "pointer"],
  ["n_gpu_layers", "i32"],
  ["split_mode", "i32"],
  ["load_mode", "i32"],
  ["lazy_mode", "i32"],
  ["main_gpu", "i32"],
  ["tensor_split", "pointer"],
  ["progress_callback", "pointer"],
  ["progress_callback_user_data", "pointer"],
  ["kv_overrides", "pointer"],
  ["vocab_only", "bool"],
  ["check_tensors", "bool"],
  ["use_extra_bufts", "bool"],
  ["no_host", "bool"],
  ["no_alloc", "bool"],
  ["load_mtp", "bool"],
]);

/** `struct llama_context_params` of v0.5.0 (`include/llama.h`). */
export const LLAMA_CONTEXT_PARAMS: StructLayout = defineStruct("struct llama_context_params", [
  ["n_ctx", "u32"],
  ["n_batch", "u32"],
  ["n_ubatch", "u32"],
  ["n_seq_max", "u32"],
  ["n_rs_seq", "u32"],
  ["n_outputs_max", "u32"],
  ["n_outputs_max_per_seq", "u32"],
  ["n_threads", "i32"],
  ["n_threads_batch", "i32"],
  ["ctx_type", "i32"],
  ["rope_scaling_type", "i32"],
  ["pooling_type", "i32"],
  ["attention_type", "i32"],
  ["flash_attn_type", "i32"],
  ["rope_freq_base", "f32"],
  ["rope_freq_scale", "f32"],
  ["yarn_ext_factor", "f32"],
  ["yarn_attn_factor", "f32"],
  ["yarn_beta_fast", "f32"],
  ["yarn_beta_slow", "f32"],
  ["yarn_orig_ctx", "u32"],
  ["defrag_thold", "f32"],
  ["cb_eval", "pointer"],
  ["cb_eval_user_data", "pointer"],
  ["type_k", "i32"],
  ["type_v", "i32"],
  ["abort_callback", "pointer"],
  ["abort_callback_data", "pointer"],
  ["embeddings", "bool"],
  ["offload_kqv", "bool"],
  ["no_perf", "bool"],
  ["op_offload", "bool"],
  ["swa_full", "bool"],
  ["kv_unified", "bool"],
  ["samplers", "pointer"],
  ["n_samplers", "usize"],
  ["ctx_other", "pointer"],
]);

/** `struct llama_batch` of v0.5.0 (`include/llama.h`): arrays of `n_tokens` entries, owned by whoever allocated them. */
export const LLAMA_BATCH: StructLayout = defineStruct("struct llama_batch", [
  ["n_tokens", "i32"],
  ["token", "pointer"],
  ["embd", "pointer"],
  ["pos", "pointer"],
  ["n_seq_id", "pointer"],
  ["seq_id", "pointer"],
  ["logits", "pointer"],
]);

/**
 * `struct ggml_tensor` of ggml 0.25.1 as shipped in v0.5.0 (`ggml/include/ggml.h`): only read, never passed by
 * value. `GGML_MAX_DIMS` = 4, `GGML_MAX_OP_PARAMS` = 64 bytes, `GGML_MAX_SRC` = 10, `GGML_MAX_NAME` = 64.
 */
export const GGML_TENSOR: StructLayout = defineStruct("struct ggml_tensor", [
  ["type", "i32"],
  ["buffer", "pointer"],
  ["ne", "i64", 4],
  ["nb", "usize", 4],
  ["op", "i32"],
  ["op_params", "i32", 16],
  ["flags", "i32"],
  ["src", "pointer", 10],
  ["view_src", "pointer"],
  ["view_offs", "usize"],
  ["data", "pointer"],
  ["name", "i8", 64],
  ["extra", "pointer"],
  ["padding", "i8", 8],
]);

/** Every layout the binding relies on, keyed by C name; the ABI probe checks all of them. */
export const BINDING_LAYOUTS: readonly StructLayout[] = [
  LLAMA_MODEL_PARAMS,
  LLAMA_CONTEXT_PARAMS,
  LLAMA_BATCH,
  GGML_TENSOR,
];

/**
 * Enum values the binding passes to llama.cpp, by their C names; the probe checks them as well.
 * Values from `ggml/include/ggml.h` (`enum ggml_type`, `enum ggml_log_level`) and `include/llama.h`.
 */
export const BINDING_CONSTANTS: Readonly<Record<string, number>> = {
  GGML_TYPE_F32: 0,
  GGML_TYPE_F16: 1,
  LLAMA_FLASH_ATTN_TYPE_AUTO: -1,
  LLAMA_FLASH_ATTN_TYPE_DISABLED: 0,
  GGML_LOG_LEVEL_DEBUG: 1,
  GGML_LOG_LEVEL_INFO: 2,
  GGML_LOG_LEVEL_WARN: 3,
  GGML_LOG_LEVEL_ERROR: 4,
  GGML_LOG_LEVEL_CONT: 5,
};

const DENO_SCALAR: Record<CScalar, Deno.NativeType> = {
  bool: "bool",
  i8: "i8",
  u8: "u8",
  i32: "i32",
  u32: "u32",
  f32: "f32",
  i64: "i64",
  u64: "u64",
  usize: "usize",
  f64: "f64",
  pointer: "pointer",
};

/**
 * The Deno FFI struct type for passing or returning the struct by value (arrays expanded element by element).
 *
 * @param layout A layout from this module.
 * @returns A `{ struct: [...] }` native type.
 */
export function denoStructType(layout: StructLayout): Deno.NativeStructType {
  const members: Deno.NativeType[] = [];
  for (const f of layout.fields) for (let i = 0; i < f.count; i++) members.push(DENO_SCALAR[f.type]);
  return { struct: members };
}

/**
 * Find a field by name.
 *
 * @param layout The struct layout.
 * @param name C field name.
 * @returns The field.
 * @throws {RangeError} When the struct has no such field.
 */
export function fieldOf(layout: StructLayout, name: string): StructField {
  const f = layout.fields.find((x) => x.name === name);
  if (!f) {
    throw new RangeError(`Cannot find field "${name}" in ${layout.cName}: the binding's layout has no such field`);
  }
  return f;
}

/** Field value as JavaScript sees it: numbers, bigints for 64-bit integers and pointers, booleans. */
export type FieldValue = number | bigint | boolean;

/**
 * Read one scalar field (element 0 of an array field) from struct bytes.
 *
 * @param bytes The struct's bytes (at least `layout.size`).
 * @param layout The struct layout.
 * @param name C field name.
 * @returns The value; pointers and 64-bit integers as bigint.
 * @throws {RangeError} When the field does not exist.
 */
export function readField(bytes: Uint8Array, layout: StructLayout, name: string): FieldValue {
  const f = fieldOf(layout, name);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (f.type) {
    case "bool":
      return v.getUint8(f.offset) !== 0;
    case "i8":
      return v.getInt8(f.offset);
    case "u8":
      return v.getUint8(f.offset);
    case "i32":
      return v.getInt32(f.offset, true);
    case "u32":
      return v.getUint32(f.offset, true);
    case "f32":
      return v.getFloat32(f.offset, true);
    case "f64":
      return v.getFloat64(f.offset, true);
    case "i64":
      return v.getBigInt64(f.offset, true);
    default:
      return v.getBigUint64(f.offset, true);
  }
}

/**
 * Write one scalar field into struct bytes.
 *
 * @param bytes The struct's bytes.
 * @param layout The struct layout.
 * @param name C field name.
 * @param value New value (bool for `bool`, bigint or number for 64-bit fields and pointers).
 * @throws {RangeError} When the field does not exist.
 */
export function writeField(bytes: Uint8Array, layout: StructLayout, name: string, value: FieldValue): void {
  const f = fieldOf(layout, name);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = typeof value === "boolean" ? (value ? 1 : 0) : value;
  switch (f.type) {
    case "bool":
    case "u8":
      v.setUint8(f.offset, Number(n));
      return;
    case "i8":
      v.setInt8(f.offset, Number(n));
      return;
    case "i32":
      v.setInt32(f.offset, Number(n), true);
      return;
    case "u32":
      v.setUint32(f.offset, Number(n), true);
      return;
    case "f32":
      v.setFloat32(f.offset, Number(n), true);
      return;
    case "f64":
      v.setFloat64(f.offset, Number(n), true);
      return;
    case "i64":
      v.setBigInt64(f.offset, BigInt(n), true);
      return;
    default:
      v.setBigUint64(f.offset, BigInt(n), true);
  }
}
