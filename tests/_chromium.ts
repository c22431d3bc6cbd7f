/**
 * Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol from Deno's own WebSocket: load
 * a page, collect every console message, exception and log entry (a Content-Security-Policy violation is one),
 * measure what the page drew, and take a screenshot. No npm package: the protocol is JSON over a WebSocket
 * (https://chromedevtools.github.io/devtools-protocol/), and Chromium writes the port it listens on to
 * `<user-data-dir>/DevToolsActivePort`.
 *
 * {@link ensureChromium} installs the package with apt-get when it is missing, as tests/setup.ts does for the Rust
 * toolchain: idempotent, and an actionable error where apt-get cannot run.
 *
 * @module
 */

/** Where Debian installs it. */
export const CHROMIUM = "/usr/bin/chromium";

/** Launch flags that work in containers without a display, a GPU, a sandbox or a network. */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  "--hide-scrollbars",
];

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const o = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  })
    .output();
  const dec = new TextDecoder();
  return { ok: o.success, out: (dec.decode(o.stdout) + dec.decode(o.stderr)).slice(-2000) };
}

/**
 * The Chromium binary, installed with apt-get if missing.
 *
 * @returns Its path.
 * @throws {Error} When it is missing and cannot be installed, naming the command to run.
 */
export async function ensureChromium(): Promise<string> {
  if (await exists(CHROMIUM)) return CHROMIUM;
  const fix = "Install it with: sudo apt-get update && sudo apt-get install -y chromium";
  const update = await run("apt-get", ["update"]).catch((e) => ({ ok: false, out: String(e) }));
  const install = update.ok
    ? await run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"]).catch((e) => ({
      ok: false,
      out: String(e),
    }))
    : update;
  if (!install.ok || !(await exists(CHROMIUM))) {
    throw new Error(`Cannot find Chromium at ${CHROMIUM} and apt-get could not install it:\n${install.out}\n${fix}`);
  }
  return CHROMIUM;
}

/** One SVG element as drawn. */
export interface DrawnSvg {
  /** `class` attribute. */
  readonly cls: string;
  /** Rendered width, CSS pixels. */
  readonly width: number;
  /** Rendered height. */
  readonly height: number;
  /** Drawn shapes inside (circle, rect, line, polyline, path, text). */
  readonly shapes: number;
}

/** What the page did in the browser. */
export interface PageRun {
  /** Console messages of level error or warning, exceptions, and log entries of level error or warning. */
  readonly errors: readonly string[];
  /** Every SVG element. */
  readonly svgs: readonly DrawnSvg[];
  /** `<script>` elements in the DOM. */
  readonly scripts: number;
  /** `document.title`. */
  readonly title: string;
  /** Full page height, CSS pixels. */
  readonly pageHeight: number;
  /** PNG of the top of the page, when asked for. */
  readonly png: Uint8Array | null;
}

/** Options of {@link loadPage}. */
export interface LoadPageOptions {
  /** Viewport width (default 1280). */
  readonly width?: number;
  /** Viewport height (default 900). */
  readonly height?: number;
  /** Take a screenshot of `clipHeight` pixels from the top (default: none). */
  readonly clipHeight?: number;
  /** Where the screenshot starts, CSS pixels from the top (default 0). */
  readonly clipTop?: number;
  /** Give up after this many ms (default 60,000). */
  readonly timeoutMs?: number;
}

type Msg = { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };

/**
 * Load a file in headless Chromium and report what happened.
 *
 * @param path Absolute path of an HTML file.
 * @param opts Viewport, screenshot, timeout.
 * @returns Errors, drawn SVGs, scripts, title, and the screenshot.
 * @throws {Error} When Chromium does not start or the page does not load in time (with its last stderr lines).
 */
export async function loadPage(path: string, opts: LoadPageOptions = {}): Promise<PageRun> {
  const bin = await ensureChromium();
  const width = opts.width ?? 1280, height = opts.height ?? 900, timeoutMs = opts.timeoutMs ?? 60_000;
  const profile = await Deno.makeTempDir({ prefix: "crossval-chromium-" });
  const child = new Deno.Command(bin, {
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const drain = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) stderr = (stderr + dec.decode(chunk)).slice(-4000);
  })();
  let ws: WebSocket | undefined;
  const deadline = Date.now() + timeoutMs;
  const fail = (what: string) => new Error(`Chromium: ${what}. Its last output:\n${stderr}`);
  try {
    let port = "";
    while (!port) {
      if (Date.now() > deadline) throw fail("no DevTools port after start");
      port = await Deno.readTextFile(`${profile}/DevToolsActivePort`).catch(() => "");
      if (!port.includes("\n")) port = "";
      if (!port) await new Promise((r) => setTimeout(r, 100));
    }
    const [num, browserPath] = port.trim().split("\n");
    ws = new WebSocket(`ws://127.0.0.1:${num}${browserPath}`);
    const socket = ws;
    await new Promise<void>((res, rej) => {
      socket.onopen = () => res();
      socket.onerror = () => rej(fail("cannot connect to DevTools"));
    });
    let next = 1;
    const pending = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
    const listeners: ((m: Msg) => void)[] = [];
    socket.onmessage = (ev) => {
      const m = JSON.parse(String(ev.data)) as Msg;
      if (m.id !== undefined && pending.has(m.id)) {
        const p = pending.get(m.id)!;
        pending.delete(m.id);
        if (m.error) p.rej(new Error(`DevTools: ${JSON.stringify(m.error)}`));
        else p.res(m.result);
      } else for (const l of listeners) l(m);
    };
    const send = <T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> =>
      new Promise((res, rej) => {
        const id = next++;
        pending.set(id, { res: res as (v: unknown) => void, rej });
        socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      });
    const errors: string[] = [];
    let loaded!: () => void;
    const load = new Promise<void>((r) => (loaded = r));
    listeners.push((m) => {
      const p = m.params ?? {};
      if (m.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "warning")) {
        errors.push(`console.${p.type}: ${JSON.stringify(p.args)}`);
      } else if (m.method === "Runtime.exceptionThrown") {
        errors.push(`exception: ${JSON.stringify(p.exceptionDetails)}`);
      } else if (m.method === "Log.entryAdded") {
        const e = p.entry as { level: string; text: string; source: string };
        if (e.level === "error" || e.level === "warning") errors.push(`${e.source} ${e.level}: ${e.text}`);
      } else if (m.method === "Page.loadEventFired") loaded();
    });
    const { targetId } = await send<{ targetId: string }>("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await send<{ sessionId: string }>("Target.attachToTarget", { targetId, flatten: true });
    for (const d of ["Runtime.enable", "Log.enable", "Page.enable"]) await send(d, {}, sessionId);
    await send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
    await send("Page.navigate", { url: new URL(`file://${path}`).href }, sessionId);
    await Promise.race([
      load,
      new Promise((_, rej) => setTimeout(() => rej(fail("the page did not load in time")), deadline - Date.now())),
    ]);
    const measure = `JSON.stringify({
      svgs: [...document.querySelectorAll("svg")].map((s) => {
        const b = s.getBoundingClientRect();
        return { cls: s.getAttribute("class") || "", width: b.width, height: b.height,
          shapes: s.querySelectorAll("circle,rect,line,polyline,path,text").length };
      }),
      scripts: document.scripts.length, title: document.title, pageHeight: document.documentElement.scrollHeight })`;
    const ev = await send<{ result: { value: string } }>(
      "Runtime.evaluate",
      { expression: measure, returnByValue: true },
      sessionId,
    );
    const drawn = JSON.parse(ev.result.value) as Omit<PageRun, "errors" | "png">;
    let png: Uint8Array | null = null;
    if (opts.clipHeight) {
      const shot = await send<{ data: string }>("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
        clip: {
          x: 0,
          y: opts.clipTop ?? 0,
          width,
          height: Math.min(opts.clipHeight, drawn.pageHeight - (opts.clipTop ?? 0)),
          scale: 1,
        },
      }, sessionId);
      png = Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0));
    }
    await send("Browser.close").catch(() => {});
    return { ...drawn, errors, png };
  } finally {
    ws?.close();
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited (Browser.close)
    }
    await child.status;
    await drain.catch(() => {});
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
