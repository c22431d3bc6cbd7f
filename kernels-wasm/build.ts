/**
 * Builds the committed kernel modules from `kernels-wasm/src` with Debian's rustc 1.63:
 *
 * - `kernels.wasm`: SIMD128 + threads (shared imported memory).
 * - `kernels_relaxed.wasm`: the same crate built with `--cfg relaxed`, whose placeholder instructions
 *   (`i8x16.swizzle` inside functions named `*_rdot*`, `v128.bitselect` inside `*_rmadd*`) are rewritten into
 *   `i16x8.relaxed_dot_i8x16_i7x16_s` / `f32x4.relaxed_madd` (see `RELAXED`; the opcodes are one byte longer, so
 *   the code section is re-encoded by `spliceCode`). Rust 1.63 has no relaxed-SIMD intrinsics; the SIMD128 build
 *   is checked to have no placeholder in such functions.
 * - In both modules, `f64x2.ceil` (0xfd 0x74) is the placeholder of `f32x4.demote_f64x2_zero` (0xfd 0x5e),
 *   which LLVM 14 would otherwise scalarize (see `src/simd128/mod.rs` `demote`).
 *
 * Usage: `deno run -A kernels-wasm/build.ts [--check]`. `--check` builds into a temporary directory and
 * exits 1 when a built file differs from the committed one (naming it). The build is deterministic:
 * rustc is called directly (no cargo metadata hashes), with a cleared environment, relative source
 * paths and `--remap-path-prefix`, so two builds, or builds from different checkout paths, give the
 * same bytes. Exit code 2: toolchain missing or build failure.
 *
 * This is a CLI script (it prints and exits); the library never imports it.
 *
 * @module
 */

const HERE = new URL(".", import.meta.url);
const CRATE_DIR = decodeURIComponent(HERE.pathname).replace(/\/$/, "");
const RUSTC = "/usr/bin/rustc";
const OBJDUMP = "/usr/bin/wasm-objdump";
const RUSTC_VERSION = "rustc 1.63.0";
const INSTALL = "apt-get update && apt-get install -y rustc libstd-rust-dev-wasm32 lld-14 wabt";

/** Files this script produces, relative to kernels-wasm/. */
export const OUTPUTS: readonly string[] = ["kernels.wasm", "kernels_relaxed.wasm"];

const RUSTC_FLAGS = [
  "--edition=2021",
  "--crate-type=cdylib",
  "--crate-name=bitnet_kernels",
  "--target=wasm32-unknown-unknown",
  "-C",
  "opt-level=3",
  "-C",
  "lto=fat",
  "-C",
  "codegen-units=1",
  "-C",
  "panic=abort",
  "-C",
  "debuginfo=0",
  // The precompiled `core` carries DWARF sections; the code rewrites below change instruction lengths, which would
  // leave them stale. The "name" section (function names, used by the rewrites) stays.
  "-C",
  "strip=debuginfo",
  // Fat LTO is what lets the precompiled `core` join a module with the atomics feature (platform.md).
  "-C",
  "target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals",
  "-C",
  "link-arg=--shared-memory",
  "-C",
  "link-arg=--import-memory",
  "-C",
  "link-arg=--max-memory=4294967296",
  // Each instance (main thread, workers) gets its own stack: the loader sets this global per instance.
  "-C",
  "link-arg=--export=__stack_pointer",
  "-C",
  "link-arg=--export=__heap_base",
];

async function run(cmd: string, args: string[], cwd: string): Promise<{ ok: boolean; out: string }> {
  const p = new Deno.Command(cmd, {
    args,
    cwd,
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", HOME: "/nonexistent", LANG: "C" },
    stdout: "piped",
    stderr: "piped",
  });
  const r = await p.output();
  const dec = new TextDecoder();
  return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ensures Debian's rustc 1.63 with the wasm32 std and wabt; installs them with apt-get when running as root.
 *
 * @throws {Error} When they are missing and cannot be installed; the message gives the install command.
 */
export async function ensureToolchain(): Promise<void> {
  const missing = async () => {
    if (!(await exists(RUSTC)) || !(await exists(OBJDUMP))) return true;
    const sysroot = (await run(RUSTC, ["--print", "sysroot"], "/")).out.trim();
    return !(await exists(`${sysroot}/lib/rustlib/wasm32-unknown-unknown/lib`));
  };
  if (await missing()) {
    if (Deno.uid() !== 0) {
      throw new Error(
        `Cannot build kernels-wasm: Debian's rustc with the wasm32 target or wabt is missing (${RUSTC}, ${OBJDUMP}). ` +
          `Install them as root with: ${INSTALL}`,
      );
    }
    for (const args of [["update"], ["install", "-y", "rustc", "libstd-rust-dev-wasm32", "lld-14", "wabt"]]) {
      const p = await new Deno.Command("apt-get", { args, stdout: "inherit", stderr: "inherit" }).output();
      if (!p.success) {
        throw new Error(`Cannot install the kernel toolchain: apt-get ${args[0]} failed. Run: ${INSTALL}`);
      }
    }
    if (await missing()) {
      throw new Error(`Cannot build kernels-wasm: toolchain still missing after install. Run: ${INSTALL}`);
    }
  }
  const v = (await run(RUSTC, ["--version"], "/")).out.trim();
  if (!v.startsWith(RUSTC_VERSION)) {
    throw new Error(
      `Cannot build kernels-wasm reproducibly: ${RUSTC} is "${v}", the committed modules come from "${RUSTC_VERSION}" ` +
        `(Debian 12). Build on Debian 12 with: ${INSTALL}`,
    );
  }
}

async function rustc(out: string, cfg: string[]): Promise<void> {
  const args = [...RUSTC_FLAGS, `--remap-path-prefix=${CRATE_DIR}=kernels-wasm`, ...cfg, "src/lib.rs", "-o", out];
  const r = await run(RUSTC, args, CRATE_DIR);
  if (!r.ok) throw new Error(`Cannot build kernels-wasm: rustc failed:\n${r.out}`);
}

/** File offsets of every instruction named `name`, from wabt's disassembly. */
async function instructionOffsets(file: string, name: string): Promise<number[]> {
  const r = await run(OBJDUMP, ["-d", file], "/");
  if (!r.ok) throw new Error(`Cannot disassemble ${file}: ${r.out}`);
  const offs: number[] = [];
  const re = new RegExp(`^\\s*([0-9a-f]+):[0-9a-f ]+\\|\\s*${name.replace(/\./g, "\\.")}(\\s.*)?$`);
  for (const line of r.out.split("\n")) {
    const m = re.exec(line);
    if (m) offs.push(parseInt(m[1], 16));
  }
  return offs;
}

const DEMOTE_PLACEHOLDER = [0xfd, 0x74]; // f64x2.ceil
const DEMOTE = [0xfd, 0x5e]; // f32x4.demote_f64x2_zero

/** Rewrites every `f64x2.ceil` of `file` into `f32x4.demote_f64x2_zero` (same length), in place. */
async function rewriteDemote(file: string): Promise<void> {
  const offs = await instructionOffsets(file, "f64x2.ceil");
  if (offs.length === 0) throw new Error(`Cannot build kernels-wasm: ${file} has no f64x2.ceil (demote placeholder).`);
  const bytes = await Deno.readFile(file);
  for (const o of offs) {
    if (!DEMOTE_PLACEHOLDER.every((b, i) => bytes[o + i] === b)) {
      throw new Error(`Cannot rewrite the demote placeholder: unexpected bytes at offset ${o} of ${file}.`);
    }
    bytes.set(DEMOTE, o);
  }
  await Deno.writeFile(file, bytes);
  const left = await instructionOffsets(file, "f64x2.ceil");
  const done = await instructionOffsets(file, "f32x4.demote_f64x2_zero");
  if (left.length !== 0 || done.length !== offs.length) {
    throw new Error(
      `Cannot rewrite the demote placeholder of ${file}: ${left.length} left, ${done.length} of ${offs.length} rewritten.`,
    );
  }
}

/** LEB128 encoding of an unsigned integer. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Reads an unsigned LEB128 at `at`; returns the value and the offset after it. */
function readLeb(b: Uint8Array, at: number): [number, number] {
  let v = 0, shift = 0;
  for (;;) {
    const x = b[at++];
    v += (x & 0x7f) * 2 ** shift;
    shift += 7;
    if ((x & 0x80) === 0) return [v, at];
  }
}

/** One instruction replacement: `len` bytes at file offset `off` become `bytes(base)` (any length), where `base` is
 * the index of the first of `locals` v128 locals added to the function holding it. */
interface Splice {
  off: number;
  len: number;
  locals: number;
  bytes: (base: number) => readonly number[];
}

/** Number of parameters of every function body, in code-section order (the module imports no functions). */
function paramCounts(bytes: Uint8Array): number[] {
  const types: number[] = [];
  const counts: number[] = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = readLeb(bytes, at + 1);
    let p = body;
    if (id === 1) {
      const [n, q] = readLeb(bytes, p);
      p = q;
      for (let i = 0; i < n; i++) {
        if (bytes[p] !== 0x60) throw new Error("Cannot parse the type section: not a function type.");
        const [np, q1] = readLeb(bytes, p + 1);
        types.push(np);
        const [nr, q2] = readLeb(bytes, q1 + np);
        p = q2 + nr;
      }
    } else if (id === 2) {
      const [n, q] = readLeb(bytes, p);
      p = q;
      for (let i = 0; i < n; i++) {
        for (let s = 0; s < 2; s++) {
          const [len, q1] = readLeb(bytes, p);
          p = q1 + len;
        }
        if (bytes[p] === 0x00) throw new Error("Cannot splice: the module imports functions (indices would shift).");
        // memory import: kind 2, limits flag, min, max (shared)
        const kind = bytes[p++];
        if (kind !== 2) throw new Error(`Cannot splice: unexpected import kind ${kind}.`);
        const flags = bytes[p++];
        [, p] = readLeb(bytes, p);
        if (flags & 1) [, p] = readLeb(bytes, p);
      }
    } else if (id === 3) {
      const [n, q] = readLeb(bytes, p);
      p = q;
      for (let i = 0; i < n; i++) {
        const [t, q1] = readLeb(bytes, p);
        counts.push(types[t]);
        p = q1;
      }
    }
    at = body + size;
  }
  return counts;
}

/**
 * Applies `splices` (inside function bodies of the code section) to a module: re-encodes each changed body (with
 * any added v128 locals declared after its own) and the section sizes. Wasm control flow is structured (no byte
 * offsets), so an instruction may change length; the custom sections left are "name", "producers" and
 * "target_features", which hold no code offsets.
 */
export function spliceCode(bytes: Uint8Array, splices: readonly Splice[]): Uint8Array {
  const sorted = [...splices].sort((a, b) => a.off - b.off);
  const params = paramCounts(bytes);
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  let at = 8, used = 0;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = readLeb(bytes, at + 1);
    const end = body + size;
    if (id !== 10) {
      parts.push(bytes.subarray(at, end));
      at = end;
      continue;
    }
    const [count, first] = readLeb(bytes, body);
    const section: Uint8Array[] = [new Uint8Array(leb(count))];
    let f = first;
    for (let n = 0; n < count; n++) {
      const [fsize, fbody] = readLeb(bytes, f);
      const fend = fbody + fsize;
      const mine: Splice[] = [];
      while (used < sorted.length && sorted[used].off < fend) mine.push(sorted[used++]);
      if (mine.length === 0) {
        section.push(bytes.subarray(f, fend));
        f = fend;
        continue;
      }
      // Local declarations: a vector of (count, type).
      const [ndecl, d0] = readLeb(bytes, fbody);
      let p = d0, nlocals = params[n];
      for (let i = 0; i < ndecl; i++) {
        const [c, q] = readLeb(bytes, p);
        nlocals += c;
        p = q + 1;
      }
      const extra = Math.max(...mine.map((s) => s.locals));
      const fn: Uint8Array[] = [
        new Uint8Array(leb(ndecl + (extra > 0 ? 1 : 0))),
        bytes.subarray(d0, p),
        new Uint8Array(extra > 0 ? [...leb(extra), 0x7b] : []),
      ];
      let i = p;
      for (const s of mine) {
        if (s.off < i) throw new Error(`Cannot splice at offset ${s.off}: overlaps another edit or a body header.`);
        fn.push(bytes.subarray(i, s.off), new Uint8Array(s.bytes(nlocals)));
        i = s.off + s.len;
      }
      fn.push(bytes.subarray(i, fend));
      const b = concat(fn);
      section.push(new Uint8Array(leb(b.length)), b);
      f = fend;
    }
    const code = concat(section);
    parts.push(new Uint8Array([10, ...leb(code.length)]), code);
    at = end;
  }
  if (used !== sorted.length) throw new Error(`Cannot splice: ${sorted.length - used} edits lie outside the code.`);
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The placeholder instructions (see RELAXED). */
type Placeholder = "v128.bitselect" | "i8x16.swizzle";

/** Every placeholder instruction of `file` with the name of the function it sits in. */
async function placeholders(file: string): Promise<{ off: number; fn: string; op: Placeholder }[]> {
  const r = await run(OBJDUMP, ["-d", file], "/");
  if (!r.ok) throw new Error(`Cannot disassemble ${file}: ${r.out}`);
  const found: { off: number; fn: string; op: Placeholder }[] = [];
  let fn = "";
  for (const line of r.out.split("\n")) {
    const head = /^[0-9a-f]+ func\[\d+\] <(.*)>:$/.exec(line);
    if (head) {
      fn = head[1];
      continue;
    }
    const m = /^\s*([0-9a-f]+):[0-9a-f ]+\|\s*(v128\.bitselect|i8x16\.swizzle)\s*$/.exec(line);
    if (m) found.push({ off: parseInt(m[1], 16), fn, op: m[2] as Placeholder });
  }
  return found;
}

/**
 * The relaxed instructions and their placeholders. Rust 1.63 has no relaxed-SIMD intrinsics, so `simd128` emits a
 * SIMD128 instruction of the same stack signature that LLVM 14 keeps as an opaque intrinsic (no folding, even of
 * constant operands), and a function's name says which relaxed instruction its placeholders stand for:
 *
 * - `_rdot`: `i8x16.swizzle(a, b)` (`simd128::relaxed2`) is `i16x8.relaxed_dot_i8x16_i7x16_s(a, b)` (0xfd 0x112).
 *   Swizzle is not commutative, so LLVM keeps the operands in order.
 * - `_rmadd`: `v128.bitselect(c, a, b)` (`simd128::relaxed3`) is `f32x4.relaxed_madd(a, b, c)` (0xfd 0x105).
 *   The placeholder takes the accumulator first: LLVM emits operands in order, so a chain of accumulations is then
 *   computed step by step (with the accumulator last, as the instruction takes it, LLVM pushes every step's operands
 *   before the first step, which V8 spills). The rewrite moves the three values through added locals: `local.set
 *   t2; local.set t1; local.set t0; local.get t1; local.get t2; local.get t0; op`.
 *
 * The relaxed opcodes are one byte longer than the placeholders, so the code section is re-encoded (`spliceCode`).
 */
const RELAXED: readonly { marker: string; placeholder: Placeholder; name: string; bytes: readonly number[] }[] = [
  { marker: "_rdot", placeholder: "i8x16.swizzle", name: "i16x8.relaxed_dot_i8x16_i7x16_s", bytes: [0xfd, 0x92, 0x02] },
  { marker: "_rmadd", placeholder: "v128.bitselect", name: "f32x4.relaxed_madd", bytes: [0xfd, 0x85, 0x02] },
];

/** The relaxed instruction that a placeholder of function `fn` stands for, if any. */
function relaxedOf(p: { fn: string; op: Placeholder }): (typeof RELAXED)[number] | undefined {
  const hits = RELAXED.filter((r) => p.fn.includes(r.marker));
  if (hits.length > 1) throw new Error(`Cannot build kernels-wasm: function ${p.fn} carries two relaxed markers.`);
  return hits[0]?.placeholder === p.op ? hits[0] : undefined;
}

/** Rewrites the placeholders of the relaxed build in place (see RELAXED); returns how many. */
async function rewriteRelaxed(file: string): Promise<number> {
  const edits: Splice[] = [];
  for (const p of await placeholders(file)) {
    const m = relaxedOf(p);
    if (m === undefined) continue;
    if (m.placeholder === "i8x16.swizzle") {
      edits.push({ off: p.off, len: 2, locals: 0, bytes: () => m.bytes });
      continue;
    }
    edits.push({
      off: p.off,
      len: 2,
      locals: 3,
      bytes: (t) => [
        ...[0x21, ...leb(t + 2), 0x21, ...leb(t + 1), 0x21, ...leb(t)],
        ...[0x20, ...leb(t + 1), 0x20, ...leb(t + 2), 0x20, ...leb(t)],
        ...m.bytes,
      ],
    });
  }
  if (edits.length === 0) throw new Error(`Cannot build kernels-wasm: ${file} has no relaxed placeholder to rewrite.`);
  await Deno.writeFile(file, spliceCode(await Deno.readFile(file), edits));
  const left = (await placeholders(file)).filter((p) => relaxedOf(p) !== undefined);
  if (left.length !== 0) throw new Error(`Cannot rewrite ${file}: ${left.length} placeholders left.`);
  return edits.length;
}

/** The SIMD128 build must not hold a placeholder inside a marked function (it would be taken for one). */
async function checkNoMarkedPlaceholder(file: string): Promise<void> {
  const bad = (await placeholders(file)).filter((p) => relaxedOf(p) !== undefined);
  if (bad.length !== 0) {
    throw new Error(
      `Cannot build kernels-wasm: ${file} has ${bad.length} ${bad[0].op} in functions named with a relaxed marker ` +
        `(${bad[0].fn}). Fix: move that code out of the marked function (RELAXED in build.ts).`,
    );
  }
}

/** Builds both modules into `dir`; returns their paths keyed by output name. */
export async function buildInto(dir: string): Promise<Map<string, string>> {
  await ensureToolchain();
  const plain = `${dir}/kernels.wasm`;
  const relaxedRaw = `${dir}/kernels_relaxed.raw.wasm`;
  const relaxed = `${dir}/kernels_relaxed.wasm`;
  // The two builds are independent: run them side by side.
  await Promise.all([rustc(plain, []), rustc(relaxedRaw, ["--cfg", "relaxed"])]);

  await Deno.rename(relaxedRaw, relaxed);
  await checkNoMarkedPlaceholder(plain);
  await rewriteRelaxed(relaxed);
  for (const f of [plain, relaxed]) await rewriteDemote(f);
  for (const f of [plain, relaxed]) {
    const b = await Deno.readFile(f);
    if (!WebAssembly.validate(b)) throw new Error(`Cannot build kernels-wasm: ${f} does not validate in this runtime.`);
    // LLVM scalarizes i8/i16 vector operations that wasm lacks (an i8x16 multiply, per-lane shift amounts)
    // into extract/replace-lane sequences, silently making a kernel 3-10x slower; likewise f64 <-> f32
    // round trips (f64x2.replace_lane). The kernels use none.
    for (
      const op of [
        "i8x16.extract_lane",
        "i8x16.replace_lane",
        "i16x8.extract_lane",
        "i16x8.replace_lane",
        "f64x2.replace_lane",
      ]
    ) {
      const n = (await instructionOffsets(f, `${op}_s`)).length + (await instructionOffsets(f, `${op}_u`)).length +
        (await instructionOffsets(f, op)).length;
      if (n !== 0) {
        throw new Error(
          `Cannot build kernels-wasm: ${f} contains ${n} ${op} (scalarized SIMD). Fix: find the operation LLVM ` +
            `could not vectorize (wasm-objdump -d) and rewrite it with supported lane widths or constant shifts.`,
        );
      }
    }
  }
  return new Map([["kernels.wasm", plain], ["kernels_relaxed.wasm", relaxed]]);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function main(args: string[]): Promise<number> {
  const check = args.includes("--check");
  const tmp = await Deno.makeTempDir({ prefix: "kernels-wasm-build-" });
  try {
    const built = await buildInto(tmp);
    let differ = 0;
    for (const name of OUTPUTS) {
      const fresh = await Deno.readFile(built.get(name)!);
      const target = `${CRATE_DIR}/${name}`;
      if (check) {
        const committed = (await exists(target)) ? await Deno.readFile(target) : new Uint8Array();
        if (!equalBytes(fresh, committed)) {
          console.error(
            `kernels-wasm/${name} differs from a fresh build (${committed.length} committed bytes, ${fresh.length} built). ` +
              `Rebuild with: deno run -A kernels-wasm/build.ts`,
          );
          differ++;
        } else {
          console.log(`kernels-wasm/${name}: identical to a fresh build (${fresh.length} bytes)`);
        }
      } else {
        await Deno.writeFile(target, fresh);
        console.log(`wrote kernels-wasm/${name} (${fresh.length} bytes)`);
      }
    }
    return differ ? 1 : 0;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    Deno.exit(2);
  }
}
