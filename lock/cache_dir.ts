/**
 * Where bitnet-crossval keeps its caches. One rule for every folder, so `lock/` (models) and `ffi/`
 * (llama.cpp source) agree: `BITNET_CACHE_DIR` > `$XDG_CACHE_HOME/bitnet` > `~/.cache/bitnet`
 * (the XDG Base Directory spec), and for models `BITNET_MODEL_CACHE_DIR` overrides all of them
 * (the validation spec's variable).
 *
 * @module
 */

/** Reads one environment variable; the default reads `Deno.env`. */
export type EnvReader = (name: string) => string | undefined;

const denoEnv: EnvReader = (name) => Deno.env.get(name);

/**
 * Root of all bitnet-crossval caches.
 *
 * @param env Environment reader (tests pass a map); defaults to `Deno.env.get`.
 * @returns `BITNET_CACHE_DIR`, else `$XDG_CACHE_HOME/bitnet`, else `$HOME/.cache/bitnet`.
 * @throws {Error} When none of those variables is set (no HOME); the message names the variable to set.
 * @example
 * ```ts
 * import { cacheRoot } from "./cache_dir.ts";
 * console.log(cacheRoot((n) => ({ HOME: "/home/me" } as Record<string, string>)[n])); // /home/me/.cache/bitnet
 * ```
 */
export function cacheRoot(env: EnvReader = denoEnv): string {
  const explicit = env("BITNET_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/bitnet`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) {
    throw new Error("Cannot locate a cache directory: HOME is not set. Fix: set BITNET_CACHE_DIR or HOME.");
  }
  return `${home}/.cache/bitnet`;
}

/**
 * Root of the model cache (`<root>/<sha256>/model.gguf`).
 *
 * @param env Environment reader; defaults to `Deno.env.get`.
 * @returns `BITNET_MODEL_CACHE_DIR`, else `BITNET_CACHE_DIR/models`, else `$XDG_CACHE_HOME/bitnet/models`,
 *   else `~/.cache/bitnet/models`.
 * @throws {Error} When no variable locates a home directory.
 * @example
 * ```ts
 * import { modelCacheDir } from "./cache_dir.ts";
 * const env: Record<string, string> = { BITNET_CACHE_DIR: "/srv/cache" };
 * console.log(modelCacheDir((n) => env[n])); // /srv/cache/models
 * ```
 */
export function modelCacheDir(env: EnvReader = denoEnv): string {
  const explicit = env("BITNET_MODEL_CACHE_DIR");
  if (explicit) return explicit;
  return `${cacheRoot(env)}/models`;
}
