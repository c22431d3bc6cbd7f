/**
 * The source forms a lockfile `url` may take, parsed once so every later step switches on a tagged union.
 *
 * - `https://host/path`: any host (Hugging Face `resolve/main/...` URLs are the usual case).
 * - `http://127.0.0.1:port/path`, `http://localhost/...`, `http://[::1]/...`: plain HTTP only on loopback, where
 *   nothing can tamper with the bytes in transit; anything else must be HTTPS.
 * - `file:///absolute/path`: a local file, copied and verified like a download.
 * - `generate:make-model?preset=tiny&arch=bitnet&type=tq2_0&embed-type=f16&seed=1`: the deterministic synthetic
 *   model that `crossval make-model` writes with the same options; generated, then verified against the pinned
 *   SHA-256 like any download. This is what lets the `ci` tier work with no network at all.
 *
 * @module
 */

/** A parsed lockfile source. */
export type Source =
  | { readonly kind: "https" | "http"; readonly url: string }
  | { readonly kind: "file"; readonly url: string; readonly path: string }
  | {
    readonly kind: "generate";
    readonly url: string;
    /** The generator: only `make-model` exists. */
    readonly generator: "make-model";
    /** The `make-model` options, by their CLI names without dashes (`preset`, `embed-type`, ...). */
    readonly params: Readonly<Record<string, string>>;
  };

/** Hosts that plain `http:` may name: nothing between us and them can tamper with the bytes. */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** `make-model` options a generate source may set; each is `crossval make-model --<name>` (booleans as 0/1). */
export const GENERATE_PARAMS: readonly string[] = [
  "preset",
  "arch",
  "type",
  "embed-type",
  "seed",
  "layers",
  "embd",
  "ff",
  "heads",
  "heads-kv",
  "ctx",
  "scales",
  "untied",
  "output-type",
  "rope-freqs",
];

/**
 * Parses a lockfile `url` into a {@link Source}.
 *
 * @param url The lockfile string.
 * @returns The tagged source.
 * @throws {TypeError} When the URL is malformed, uses another scheme, is plain HTTP to a non-loopback host,
 *   is a relative `file:` URL, or names an unknown generator or generator option; the message says which.
 * @example
 * ```ts
 * import { parseSource } from "./source.ts";
 * const s = parseSource("generate:make-model?preset=tiny&seed=1");
 * console.log(s.kind); // "generate"
 * ```
 */
export function parseSource(url: string): Source {
  if (url.startsWith("generate:")) return parseGenerate(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`"${url}" is not a URL (expected https://, http://<loopback>, file:/// or generate:)`);
  }
  switch (u.protocol) {
    case "https:":
      return { kind: "https", url: u.href };
    case "http:":
      if (!LOOPBACK_HOSTS.has(u.hostname)) {
        throw new TypeError(
          `"${url}" uses plain http to ${u.hostname}; http is allowed only for loopback hosts (127.0.0.1, localhost, ` +
            `[::1]); use https`,
        );
      }
      return { kind: "http", url: u.href };
    case "file:":
      if (u.host !== "") throw new TypeError(`"${url}" names a file on host "${u.host}"; use file:///absolute/path`);
      return { kind: "file", url: u.href, path: decodeURIComponent(u.pathname) };
    default:
      throw new TypeError(
        `"${url}" uses the scheme ${u.protocol} (expected https://, http://<loopback>, file:/// or generate:)`,
      );
  }
}

function parseGenerate(url: string): Source {
  const rest = url.slice("generate:".length);
  const q = rest.indexOf("?");
  const generator = q < 0 ? rest : rest.slice(0, q);
  if (generator !== "make-model") {
    throw new TypeError(`"${url}" names the generator "${generator}"; the only generator is make-model`);
  }
  const params: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(q < 0 ? "" : rest.slice(q + 1))) {
    if (!GENERATE_PARAMS.includes(key)) {
      throw new TypeError(
        `"${url}" sets the unknown make-model option "${key}" (known: ${GENERATE_PARAMS.join(", ")})`,
      );
    }
    if (key in params) throw new TypeError(`"${url}" sets the make-model option "${key}" twice`);
    params[key] = value;
  }
  return { kind: "generate", url, generator, params };
}

/**
 * The network-free check of a source: whether fetching it needs the network.
 *
 * @param source A parsed source.
 * @returns `true` for `https` and `http` (even loopback: `--offline` means "make no HTTP requests").
 * @example
 * ```ts
 * import { needsNetwork, parseSource } from "./source.ts";
 * console.log(needsNetwork(parseSource("file:///tmp/m.gguf"))); // false
 * ```
 */
export function needsNetwork(source: Source): boolean {
  return source.kind === "https" || source.kind === "http";
}
