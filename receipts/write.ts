/**
 * Writing receipts without ever leaving a half-written file: JSON goes to a temporary file in the same directory,
 * is flushed, then renamed over the destination.
 *
 * @module
 */

/**
 * Write `value` as pretty JSON to `path` atomically, creating the directory if needed.
 *
 * @param path Destination file.
 * @param value JSON-serialisable value.
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
  try {
    using f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    const bytes = new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
    let off = 0;
    while (off < bytes.length) off += await f.write(bytes.subarray(off));
    await f.sync();
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await Deno.rename(tmp, path);
}
