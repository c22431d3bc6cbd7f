/**
 * Ctrl-C (SIGINT) and SIGTERM while a command runs. Every file the tool writes is written atomically (receipts,
 * baselines and cache metadata through `receipts/write.ts`; models renamed into the cache only after their hash
 * matched; partial downloads checkpointed with their sidecar), so an interrupted command may stop at once: it says
 * so on stderr and exits 130 (SIGINT) or 143 (SIGTERM), 128 plus the signal number as shells report it. A command
 * that can stop more gracefully (`fetch` checkpoints its partial download and releases its lock) takes the signals
 * over with {@link handleInterrupts}. SIGKILL cannot be caught; it leaves the same whole-or-untouched files, and the
 * next run recovers the cache lock and removes stale temporary files.
 *
 * @module
 */

const SIGNALS = [["SIGINT", 130], ["SIGTERM", 143]] as const;
type Interrupt = typeof SIGNALS[number][0];

let taken = 0;

/**
 * Installs the default: on SIGINT or SIGTERM, print what happened and exit at once.
 *
 * @param command The command's full name (`crossval parity`), for the message.
 */
export function exitOnInterrupt(command: string): void {
  for (const [signal, code] of SIGNALS) {
    try {
      Deno.addSignalListener(signal, () => {
        if (taken > 0) return;
        console.error(
          `\n${command}: interrupted (${signal}). Files already written are complete, the rest were not started ` +
            `(every write is atomic). Run the same command again.`,
        );
        Deno.exit(code);
      });
    } catch {
      // SIGTERM cannot be listened to on Windows; the default (terminate) is just as safe.
    }
  }
}

/**
 * Lets the running command handle SIGINT and SIGTERM itself until disposed.
 *
 * @param handler Called with the signal.
 * @returns Disposable that removes the handler and restores the default.
 */
export function handleInterrupts(handler: (signal: Interrupt) => void): Disposable {
  const installed: [Interrupt, () => void][] = [];
  for (const [signal] of SIGNALS) {
    const h = () => handler(signal);
    try {
      Deno.addSignalListener(signal, h);
      installed.push([signal, h]);
    } catch {
      // see exitOnInterrupt
    }
  }
  taken++;
  return {
    [Symbol.dispose]() {
      taken--;
      for (const [signal, h] of installed) Deno.removeSignalListener(signal, h);
    },
  };
}

/**
 * The exit code of a command stopped by a signal: 128 + its number.
 *
 * @param signal The signal.
 * @returns 130 for SIGINT, 143 for SIGTERM.
 */
export function interruptExitCode(signal: Interrupt): number {
  return SIGNALS.find(([s]) => s === signal)![1];
}
