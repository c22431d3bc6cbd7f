import { equal, ok, throws } from "node:assert/strict";
import { ChunkedArena } from "./arena.ts";

Deno.test("ChunkedArena places allocations in chunks with gaps, aligned, never at 0", () => {
  const a = new ChunkedArena({ chunkBytes: 1024, maxAllocation: 1 << 20 });
  const p = a.alloc(10, 1), q = a.alloc(100, 64), r = a.alloc(1000);
  ok(p > 0);
  equal(q % 64, 0);
  equal(a.locate(p, 10).chunk.index, 0);
  equal(a.locate(q, 100).chunk.index, 0);
  equal(a.locate(r, 1000).chunk.index, 1);
  // The first chunk is sealed at its size, and the next one starts past a gap: no region spans two chunks.
  equal(a.chunks[0].capacity, a.chunks[0].top);
  ok(r > q + 100);
  throws(() => a.locate(q + 90, 20), /outside the allocated arena/);
});

Deno.test("ChunkedArena gives an oversized allocation a chunk of its own and refuses one past maxBufferSize", () => {
  const a = new ChunkedArena({ chunkBytes: 1024, maxAllocation: 8192 });
  a.alloc(16);
  const big = a.alloc(5000);
  equal(a.locate(big, 5000).offset, 0);
  equal(a.chunks[1].capacity, 5000);
  const next = a.alloc(16);
  equal(a.locate(next, 16).chunk.index, 2);
  throws(() => a.alloc(9000), /maxBufferSize is 8192/);
  throws(() => a.alloc(8, 3), /power of two/);
});

Deno.test("ChunkedArena.extentOf() measures to the end of the allocation holding a pointer", () => {
  const a = new ChunkedArena({ chunkBytes: 4096, maxAllocation: 1 << 20 });
  const p = a.alloc(100, 1), q = a.alloc(50, 1);
  equal(a.extentOf(p), 100);
  equal(a.extentOf(p + 40), 60);
  equal(a.extentOf(q), 50);
  equal(a.extentOf(q + 50), 0);
  equal(a.extentOf(1), 0);
});

Deno.test("ChunkedArena refuses to run past the 32-bit pointer space", () => {
  const a = new ChunkedArena({ chunkBytes: 2 ** 31, maxAllocation: 2 ** 31 });
  a.alloc(2 ** 31 - 512);
  throws(() => a.alloc(2 ** 31), /pointer space \(4 GiB/);
});
