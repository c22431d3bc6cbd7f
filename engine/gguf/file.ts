/**
 * {@link GgufFile}: an open GGUF file with typed metadata getters and lazy tensor reads. Opening reads
 * only the header; `readTensor` reads one tensor's bytes straight into a caller-provided destination.
 *
 * @module
 */

import { type ByteSource, bytesSource, parseGgufHeader } from "./reader.ts";
import { type GgufArray, type GgufHeader, type GgufKv, type GgufTensorInfo, GgufValueType } from "./types.ts";

function fileSource(file: Deno.FsFile, size: number): ByteSource {
  return {
    size,
    readAt(offset, dest) {
      file.seekSync(offset, Deno.SeekMode.Start);
      return file.readSync(dest) ?? 0;
    },
  };
}

/** An open GGUF file. Owns a file handle: close it (or use `using`). */
export class GgufFile implements Disposable {
  /** The parsed header. */
  readonly header: GgufHeader;
  /** Path the file was opened from (`<memory>` for in-memory files). */
  readonly path: string;
  #source: ByteSource;
  #file: Deno.FsFile | undefined;
  #byName: Map<string, GgufTensorInfo>;

  private constructor(path: string, source: ByteSource, file: Deno.FsFile | undefined) {
    this.path = path;
    this.#source = source;
    this.#file = file;
    this.header = parseGgufHeader(source);
    this.#byName = new Map(this.header.tensors.map((t) => [t.name, t]));
  }

  /**
   * Open a GGUF file and parse its header.
   *
   * @param path File path.
   * @returns The open file.
   * @throws {Deno.errors.NotFound} When the file does not exist.
   * @throws {SyntaxError} / {RangeError} When the header is malformed; the message names the field and offset.
   * @example
   * ```ts
   * import { GgufFile } from "./file.ts";
   * // using f = GgufFile.open("model.gguf");
   * // console.log(f.getString("general.architecture"));
   * ```
   */
  static open(path: string): GgufFile {
    const file = Deno.openSync(path, { read: true });
    try {
      const size = file.statSync().size;
      return new GgufFile(path, fileSource(file, size), file);
    } catch (e) {
      file.close();
      if (e instanceof SyntaxError || e instanceof RangeError) {
        const Ctor = e instanceof SyntaxError ? SyntaxError : RangeError;
        throw new Ctor(`Cannot load "${path}": ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  /**
   * Parse a GGUF file held in memory.
   *
   * @param bytes The whole file.
   * @returns The parsed file (no handle to close).
   */
  static fromBytes(bytes: Uint8Array): GgufFile {
    return new GgufFile("<memory>", bytesSource(bytes), undefined);
  }

  /** Architecture name (`general.architecture`), or `""` if absent. */
  get architecture(): string {
    const v = this.header.metadata.get("general.architecture")?.value;
    return typeof v === "string" ? v : "";
  }

  /** Tensor infos in file order. */
  get tensors(): readonly GgufTensorInfo[] {
    return this.header.tensors;
  }

  /** A metadata entry, or `undefined`. */
  get(key: string): GgufKv | undefined {
    return this.header.metadata.get(key);
  }

  /** True when the key is present. */
  has(key: string): boolean {
    return this.header.metadata.has(key);
  }

  /**
   * A string value.
   * @throws {TypeError} When present with another type.
   */
  getString(key: string): string | undefined {
    const kv = this.get(key);
    if (!kv) return undefined;
    if (kv.type !== GgufValueType.STRING) throw new TypeError(`GGUF key "${key}" is not a string (type ${kv.type})`);
    return kv.value as string;
  }

  /**
   * A numeric value of any integer or float type, as a JS number.
   * @throws {TypeError} When present with a non-numeric type.
   */
  getNumber(key: string): number | undefined {
    const kv = this.get(key);
    if (!kv) return undefined;
    const v = kv.value;
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v);
    throw new TypeError(`GGUF key "${key}" is not a number (type ${kv.type})`);
  }

  /**
   * A boolean value.
   * @throws {TypeError} When present with another type.
   */
  getBool(key: string): boolean | undefined {
    const kv = this.get(key);
    if (!kv) return undefined;
    if (typeof kv.value !== "boolean") throw new TypeError(`GGUF key "${key}" is not a bool (type ${kv.type})`);
    return kv.value;
  }

  /**
   * An array value.
   * @throws {TypeError} When present with another type.
   */
  getArray(key: string): GgufArray | undefined {
    const kv = this.get(key);
    if (!kv) return undefined;
    if (kv.type !== GgufValueType.ARRAY) throw new TypeError(`GGUF key "${key}" is not an array (type ${kv.type})`);
    return kv.value as GgufArray;
  }

  /** A tensor's info by name, or `undefined`. */
  tensor(name: string): GgufTensorInfo | undefined {
    return this.#byName.get(name);
  }

  /**
   * Read a tensor's raw bytes.
   *
   * @param name Tensor name.
   * @param dest Optional destination of exactly the tensor's byte length (e.g. a view into WASM memory).
   * @returns The bytes (`dest` when given).
   * @throws {RangeError} When the tensor does not exist or `dest` has the wrong size.
   */
  readTensor(name: string, dest?: Uint8Array): Uint8Array {
    const t = this.#byName.get(name);
    if (!t) throw new RangeError(`Cannot read tensor "${name}" from "${this.path}": no such tensor`);
    const out = dest ?? new Uint8Array(t.byteLength);
    if (out.length !== t.byteLength) {
      throw new RangeError(
        `Cannot read tensor "${name}": destination has ${out.length} bytes, tensor has ${t.byteLength}`,
      );
    }
    const at = this.header.dataOffset + t.offset;
    let got = 0;
    while (got < out.length) {
      const n = this.#source.readAt(at + got, out.subarray(got));
      if (n <= 0) {
        throw new RangeError(
          `Cannot read tensor "${name}" from "${this.path}": file is truncated at byte ${at + got} ` +
            `(expected ${t.byteLength} bytes, found ${got})`,
        );
      }
      got += n;
    }
    return out;
  }

  /** Close the file handle (idempotent). */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
    this.#source = { size: 0, readAt: () => 0 };
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
