/**
 * Which HTTP redirects a download follows. Deno's `fetch` would follow any redirect on its own (to plain `http:`
 * on any host as well), so the fetcher asks for `redirect: "manual"` and follows each hop itself, through
 * {@link redirectTarget}. The policy:
 *
 * - `https:` to any host: followed. Cross-host redirects are how model hubs serve files (Hugging Face answers
 *   `resolve/main/<file>` with a 302 to its CDN or Xet bridge, `cdn-lfs.hf.co` or `cas-bridge.xethub.hf.co`); the
 *   bytes are checked against the pinned SHA-256 whoever serves them, and the final URL is recorded (without its
 *   query string, which holds the CDN's signature) in the report and the entry's metadata.
 * - `http:`: only from plain `http:` on a loopback host to a loopback host (a local mirror or test server). Never a
 *   downgrade from `https:`, not even to loopback: a remote server must not steer the fetcher at local services.
 * - Any other scheme (`file:`, `data:`, `ftp:`, `javascript:`, ...): refused, as in the lockfile itself.
 * - At most {@link MAX_REDIRECTS} hops per request (curl's `-L` allows 50, browsers 20; two is what Hugging Face
 *   uses).
 *
 * A refused redirect is a {@link DownloadError}, never retried: the next attempt would be refused the same way.
 *
 * @module
 */

import { DownloadError } from "./errors.ts";
import { LOOPBACK_HOSTS } from "./source.ts";

/** Redirect statuses (RFC 9110 section 15.4): 301, 302, 303, 307, 308. */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Hops followed per request before giving up. */
export const MAX_REDIRECTS = 10;

/**
 * The URL a redirect leads to, if the policy allows following it.
 *
 * @param from The URL that answered with a redirect.
 * @param location Its `Location` header (absolute or relative), or null when it sent none.
 * @param context Model name and hop number, for the message.
 * @returns The absolute URL to request next.
 * @throws {DownloadError} When the redirect has no location, goes to another scheme, downgrades to plain HTTP, or
 *   names a non-loopback HTTP host; the message names both URLs and the fix.
 * @example
 * ```ts
 * import { redirectTarget } from "./redirect.ts";
 * const to = redirectTarget(new URL("https://huggingface.co/m/resolve/main/a.gguf"), "https://cdn-lfs.hf.co/x", {
 *   model: "m", hop: 1,
 * });
 * console.log(to.host); // "cdn-lfs.hf.co"
 * ```
 */
export function redirectTarget(from: URL, location: string | null, context: { model: string; hop: number }): URL {
  const refuse = (why: string, to?: string) =>
    new DownloadError(
      `Cannot download model "${context.model}": ${from.origin}${from.pathname} redirects${
        to ? ` to ${to}` : ""
      } (hop ${context.hop}), ${why}. Fix: point the lockfile url at where the file really is (https), or at a ` +
        `mirror that serves it directly.`,
      { url: from.href, attempts: 1 },
    );
  if (location === null || location.trim() === "") throw refuse("without a Location header");
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw refuse("to something that is not a URL", JSON.stringify(location.slice(0, 200)));
  }
  const shown = `${to.protocol}//${to.host}${to.pathname}`.slice(0, 200);
  if (to.protocol === "https:") return to;
  if (to.protocol !== "http:") throw refuse(`and the fetcher follows only https (not ${to.protocol})`, shown);
  if (from.protocol === "https:") throw refuse("a downgrade from https to plain http, which is never followed", shown);
  if (!LOOPBACK_HOSTS.has(to.hostname) || !LOOPBACK_HOSTS.has(from.hostname)) {
    throw refuse("and plain http is followed only between loopback hosts (127.0.0.1, localhost, [::1])", shown);
  }
  return to;
}

/**
 * A URL as it may be recorded: scheme, host and path, without the query string (CDN redirects carry signatures and
 * expiry tokens there) and without credentials.
 *
 * @param url The URL.
 * @returns `protocol//host/path`.
 * @example
 * ```ts
 * import { recordableUrl } from "./redirect.ts";
 * console.log(recordableUrl(new URL("https://cdn.example/a.gguf?X-Amz-Signature=abc"))); // https://cdn.example/a.gguf
 * ```
 */
export function recordableUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
