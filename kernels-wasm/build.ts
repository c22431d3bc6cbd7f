/**
 * Builds the committed kernel modules from `kernels-wasm/src` with Debian's rustc 1.63:
 *
 * - `kernels.wasm`: SIMD128 + threads (shared imported memory).
 * - `kernels_relaxed.wasm`: the same crate built with `--cfg relaxed`, whose placeholder instructions
 *   (`i16x8.q15mulr_sat_s`, opcode 0xfd 0x82 0x01) are rewritten in place into
 *   `i16x8.relaxed_dot_i8x16_i7x16_s` (0xfd 0x92 0x02, same length). Rust 1.63 has no relaxed-SIMD
 *   intrinsics; the placeholder has the same operand and result types, and the SIMD128 build is checked
 *   to contain none.
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

const PLACEHOLDER = [0xfd, 0x82, 0x01]; // i16x8.q15mulr_sat_s
const RELAXED_DOT = [0xfd, 0x92, 0x02]; // i16x8.relaxed_dot_i8x16_i7x16_s (final opcode 0x112)
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

/** Builds both modules into `dir`; returns their paths keyed by output name. */
export async function buildInto(dir: string): Promise<Map<string, string>> {
  await ensureToolchain();
  const plain = `${dir}/kernels.wasm`;
  const relaxedRaw = `${dir}/kernels_relaxed.raw.wasm`;
  const relaxed = `${dir}/kernels_relaxed.wasm`;
  // The two builds are independent: run them side by side.
  await Promise.all([rustc(plain, []), rustc(relaxedRaw, ["--cfg", "relaxed"])]);

  const inPlain = await instructionOffsets(plain, "i16x8.q15mulr_sat_s");
  if (inPlain.length !== 0) {
    throw new Error(
      `Cannot build kernels-wasm: the SIMD128 build contains ${inPlain.length} i16x8.q15mulr_sat_s, the placeholder ` +
        `reserved for the relaxed build. Fix: avoid i16x8_q15mulr_sat outside simd128::relaxed_dot_i8x16_i7x16.`,
    );
  }
  const offs = await instructionOffsets(relaxedRaw, "i16x8.q15mulr_sat_s");
  if (offs.length === 0) throw new Error("Cannot build kernels-wasm: the relaxed build has no placeholder to rewrite.");
  const bytes = await Deno.readFile(relaxedRaw);
  for (const o of offs) {
    if (!PLACEHOLDER.every((b, i) => bytes[o + i] === b)) {
      throw new Error(`Cannot rewrite the relaxed build: unexpected bytes at offset ${o}.`);
    }
    bytes.set(RELAXED_DOT, o);
  }
  await Deno.writeFile(relaxed, bytes);
  await Deno.remove(relaxedRaw);
  const left = await instructionOffsets(relaxed, "i16x8.q15mulr_sat_s");
  const done = await instructionOffsets(relaxed, "i16x8.dot_i8x16_i7x16_s");
  if (left.length !== 0 || done.length !== offs.length) {
    throw new Error(
      `Cannot rewrite the relaxed build: ${left.length} placeholders left, ${done.length} of ${offs.length} rewritten.`,
    );
  }
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
