/**
 * What a reference build reports while it works. Library code never prints: `cli/reference.ts` renders these as a
 * progress bar on a TTY, or one JSON object per line otherwise (the same convention as `lock/`'s fetch events).
 *
 * @module
 */

/** Steps of a build, in order. */
export type ReferenceBuildPhase = "verify" | "extract" | "configure" | "build" | "install" | "driver" | "check";

/** An event of a reference build. */
export type ReferenceBuildEvent =
  /** Work begins (after the lock is held and the cache had no finished entry). */
  | {
    type: "start";
    library: string;
    key: string;
    recipe: string;
    source: "archive" | "checkout";
    from: string;
    dir: string;
  }
  /** Another process holds the entry's lock (`waiting`), or a dead owner's lock was taken over (`recovered`). */
  | { type: "lock"; state: "waiting" | "recovered"; message: string; owner_pid: number | null }
  /** A step begins. */
  | { type: "phase"; phase: ReferenceBuildPhase; message: string }
  /** Compilation progress (about once per finished object file). `eta_s` is null until a rate is known. */
  | {
    type: "progress";
    phase: "build";
    steps_done: number;
    steps_total: number;
    current: string;
    elapsed_s: number;
    eta_s: number | null;
  }
  /** The cache already held a finished entry. */
  | { type: "cached"; what: "libraries" | "driver"; dir: string }
  /** A finished entry was renamed into place. */
  | { type: "done"; what: "libraries" | "driver"; dir: string; seconds: number };
