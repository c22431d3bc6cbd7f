/**
 * {@link ChunkedArena}: the WebGPU backend's pointer space. The port hands out u32 byte offsets into "one arena",
 * but a GPU binding is limited (`maxStorageBufferBindingSize`: 128 MiB on llvmpipe and many mobile GPUs, 2-4 GiB on
 * desktop ones) and a 2B model has 1.2 GB of weights. So the arena is a list of chunks, each one GPU buffer of at
 * most `chunkBytes`; every allocation lies inside one chunk, and a pointer maps to (chunk, offset). An allocation
 * larger than a chunk gets a chunk of its own (kernels then bind windows of it).
 *
 * Chunks are laid out one after the other in pointer space with a gap between them, so allocations in different
 * chunks are never adjacent (the model fuses projections placed back to back; across a chunk boundary it then
 * simply does not fuse). Only the last chunk takes new allocations; when one does not fit, the chunk is sealed at
 * its current size. Pure bookkeeping: the backend owns the GPU buffers.
 *
 * @module
 */

/** One chunk of pointer space. */
export interface Chunk {
  /** Index in {@link ChunkedArena.chunks}. */
  readonly index: number;
  /** First pointer of the chunk. */
  readonly base: number;
  /** Bytes in use (allocations end here); the GPU buffer must be at least this large. */
  readonly top: number;
  /** Largest `top` the chunk may reach. */
  readonly capacity: number;
}

/** A pointer resolved to its chunk. */
export interface Located {
  /** The chunk. */
  readonly chunk: Chunk;
  /** Byte offset inside the chunk. */
  readonly offset: number;
}

/** Start of pointer space (pointers are never 0) and the gap between chunks. */
const BASE = 256;
const GAP = 256;
/** Pointers are u32. */
const MAX_POINTER = 2 ** 32 - 256;

interface MutableChunk {
  index: number;
  base: number;
  top: number;
  capacity: number;
}

/**
 * Chunked pointer space with bump allocation.
 *
 * @example
 * ```ts
 * import { ChunkedArena } from "./arena.ts";
 * const a = new ChunkedArena({ chunkBytes: 1024, maxAllocation: 4096 });
 * const p = a.alloc(800), q = a.alloc(800);
 * console.log(a.locate(p, 800).chunk.index, a.locate(q, 800).chunk.index); // 0 1
 * ```
 */
export class ChunkedArena {
  readonly #chunkBytes: number;
  readonly #maxAllocation: number;
  readonly #chunks: MutableChunk[] = [];
  /** Allocation starts and ends, in pointer order (bump allocation keeps them sorted). */
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  /**
   * Create an empty arena.
   *
   * @param opts `chunkBytes`: capacity of a regular chunk; `maxAllocation`: the largest single allocation (the
   *   adapter's `maxBufferSize`).
   */
  constructor(opts: { readonly chunkBytes: number; readonly maxAllocation: number }) {
    this.#chunkBytes = opts.chunkBytes;
    this.#maxAllocation = opts.maxAllocation;
  }

  /** The chunks, in pointer order. */
  get chunks(): readonly Chunk[] {
    return this.#chunks;
  }

  /** Bytes allocated (without alignment padding between chunks). */
  get allocatedBytes(): number {
    let n = 0;
    for (const c of this.#chunks) n += c.top;
    return n;
  }

  /**
   * Bump-allocate `bytes` aligned to `align` (offsets inside a chunk keep the alignment: chunk bases are multiples
   * of 256).
   *
   * @param bytes Size.
   * @param align Power-of-two alignment up to 256, default 64.
   * @returns The pointer (never 0).
   * @throws {RangeError} When one allocation exceeds the adapter's buffer limit or pointer space (4 GiB) runs out.
   */
  alloc(bytes: number, align = 64): number {
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw new RangeError(`Cannot allocate ${bytes} bytes in the webgpu arena: pass a non-negative integer`);
    }
    if (!(align > 0 && (align & (align - 1)) === 0 && align <= 256)) {
      throw new RangeError(`Cannot allocate with align=${align} in the webgpu arena: pass a power of two <= 256`);
    }
    if (bytes > this.#maxAllocation) {
      throw new RangeError(
        `Cannot allocate ${bytes} bytes in the webgpu arena: the adapter's maxBufferSize is ${this.#maxAllocation}. ` +
          `Use a smaller model, context or batch, or --backend wasm.`,
      );
    }
    let c = this.#chunks.at(-1);
    let at = c ? Math.ceil(c.top / align) * align : 0;
    if (!c || at + bytes > c.capacity) {
      if (c) c.capacity = c.top; // sealed
      const base = c ? Math.ceil((c.base + c.top + GAP) / 256) * 256 : BASE;
      c = { index: this.#chunks.length, base, top: 0, capacity: Math.max(this.#chunkBytes, bytes) };
      this.#chunks.push(c);
      at = 0;
    }
    const ptr = c.base + at;
    if (ptr + bytes > MAX_POINTER) {
      throw new RangeError(
        `Cannot allocate ${bytes} bytes in the webgpu arena: pointer space (4 GiB, 32-bit kernel pointers) is full ` +
          `at ${ptr}. Use a smaller context (nCtx) or batch.`,
      );
    }
    c.top = at + bytes;
    this.#starts.push(ptr);
    this.#ends.push(ptr + bytes);
    return ptr;
  }

  /**
   * The chunk holding `[ptr, ptr + bytes)`.
   *
   * @param ptr Pointer.
   * @param bytes Length of the region.
   * @returns Chunk and offset.
   * @throws {RangeError} When the region is not inside one chunk's allocated bytes.
   */
  locate(ptr: number, bytes: number): Located {
    const c = this.#chunkOf(ptr);
    if (!c || ptr + bytes > c.base + c.top) {
      throw new RangeError(
        `region [${ptr}, ${ptr + bytes}) is outside the allocated arena` +
          (c ? ` (its chunk holds [${c.base}, ${c.base + c.top}))` : ""),
      );
    }
    return { chunk: c, offset: ptr - c.base };
  }

  /**
   * Bytes from `ptr` to the end of the allocation that contains it (0 when none does).
   *
   * @param ptr Pointer.
   * @returns Bytes.
   */
  extentOf(ptr: number): number {
    let lo = 0, hi = this.#starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#starts[mid] <= ptr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0 || ptr >= this.#ends[found]) return 0;
    return this.#ends[found] - ptr;
  }

  #chunkOf(ptr: number): MutableChunk | undefined {
    let lo = 0, hi = this.#chunks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = this.#chunks[mid];
      if (ptr < c.base) hi = mid - 1;
      else if (ptr > c.base + c.top) lo = mid + 1;
      else return c;
    }
    return undefined;
  }
}
