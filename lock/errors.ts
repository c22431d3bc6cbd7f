/**
 * The errors of the fetcher that callers catch by class. Everything else is a built-in class
 * (`TypeError`, `RangeError`, `Deno.errors.TimedOut`, `DOMException` "AbortError").
 *
 * Messages follow the house grammar: what failed, the current state, then the fix.
 *
 * @module
 */

/** A lockfile that cannot be parsed or fails validation; {@link LockfileError.problems} lists every problem. */
export class LockfileError extends Error {
  /** Where the lockfile came from (a path), or `"<text>"` when parsed from a string. */
  readonly source: string;
  /** One line per problem, each naming the JSON location (`models[1].sha256`). */
  readonly problems: readonly string[];
  /**
   * Creates the error.
   *
   * @param source Path of the lockfile, or `"<text>"`.
   * @param problems One line per problem.
   * @param options Standard error options (`cause`).
   */
  constructor(source: string, problems: readonly string[], options?: ErrorOptions) {
    super(
      `Invalid lockfile ${source}: ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n` +
        problems.map((p) => `  - ${p}`).join("\n") +
        `\nFix the lockfile (its schema is lock/lockfile.schema.json).`,
      options,
    );
    this.name = "LockfileError";
    this.source = source;
    this.problems = problems;
  }
}

/** What a {@link ChecksumMismatchError} compared. */
export interface ChecksumMismatchDetails {
  /** Lockfile model name. */
  model: string;
  /** Where the bytes came from. */
  url: string;
  /** Pinned SHA-256 (lowercase hex). */
  expectedSha256: string;
  /** SHA-256 of the bytes received, when all of them arrived. */
  actualSha256?: string;
  /** Pinned size in bytes. */
  expectedSize: number;
  /** Size received or announced by the server. */
  actualSize: number;
  /** Replaces the default fix (e.g. how to re-pin a generated model). */
  fix?: string;
}

/**
 * The bytes of a model do not match the lockfile (hash or size). Nothing is left in the cache but an
 * explanation (`.error.json`); this is never retried, because a server that sends wrong bytes once will do so again.
 */
export class ChecksumMismatchError extends Error {
  /** Lockfile model name. */
  readonly model: string;
  /** Where the bytes came from. */
  readonly url: string;
  /** Pinned SHA-256. */
  readonly expectedSha256: string;
  /** Computed SHA-256, absent when the size was already wrong. */
  readonly actualSha256: string | undefined;
  /** Pinned size. */
  readonly expectedSize: number;
  /** Size seen. */
  readonly actualSize: number;
  /**
   * Creates the error.
   *
   * @param details What was compared.
   * @param options Standard error options (`cause`).
   */
  constructor(details: ChecksumMismatchDetails, options?: ErrorOptions) {
    const what = details.actualSha256 === undefined
      ? `size mismatch: expected ${details.expectedSize} bytes, the source has ${details.actualSize}`
      : `checksum mismatch: expected sha256 ${details.expectedSha256}, got ${details.actualSha256} ` +
        `(${details.actualSize} bytes)`;
    super(
      `Model "${details.model}" from ${details.url} failed verification: ${what}. ` +
        `The file was discarded. Fix: ${
          details.fix ??
            `if the source changed on purpose, update sha256/size_bytes in the lockfile; otherwise the source or a ` +
              `proxy is serving wrong bytes, retry later with: crossval fetch --model ${details.model}`
        }`,
      options,
    );
    this.name = "ChecksumMismatchError";
    this.model = details.model;
    this.url = details.url;
    this.expectedSha256 = details.expectedSha256;
    this.actualSha256 = details.actualSha256;
    this.expectedSize = details.expectedSize;
    this.actualSize = details.actualSize;
  }
}

/** A model that a caller needs is not in the cache (or `BITNET_GGUF` points nowhere). */
export class ModelNotProvisionedError extends Error {
  /** Lockfile model name asked for. */
  readonly model: string;
  /** The exact command that provisions it. */
  readonly command: string;
  /**
   * Creates the error.
   *
   * @param model Lockfile model name.
   * @param state What was found instead (the middle part of the message).
   * @param command The command that fixes it, e.g. `crossval fetch --model ci-tiny`.
   */
  constructor(model: string, state: string, command: string) {
    super(`Model "${model}" is not provisioned: ${state}. Fix: run ${command}`);
    this.name = "ModelNotProvisionedError";
    this.model = model;
    this.command = command;
  }
}

/**
 * A download failed for a reason that is not the bytes themselves: network errors after all retries,
 * an HTTP status that is not retried (401, 403, 404, ...), offline mode, or a server that misbehaves.
 */
export class DownloadError extends Error {
  /** URL of the request. */
  readonly url: string;
  /** Last HTTP status seen, if any. */
  readonly status: number | undefined;
  /** Attempts made. */
  readonly attempts: number;
  /**
   * Creates the error.
   *
   * @param message Full message (what failed, state, fix).
   * @param details URL, last status and attempts.
   * @param options Standard error options (`cause`).
   */
  constructor(
    message: string,
    details: { url: string; status?: number; attempts: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "DownloadError";
    this.url = details.url;
    this.status = details.status;
    this.attempts = details.attempts;
  }
}

/** Not enough free disk space for a model: raised before downloading, or when a write fails with ENOSPC. */
export class InsufficientSpaceError extends Error {
  /** Directory that lacks space. */
  readonly dir: string;
  /** Bytes needed (including headroom), when known. */
  readonly neededBytes: number | undefined;
  /** Bytes available, when known. */
  readonly availableBytes: number | undefined;
  /**
   * Creates the error.
   *
   * @param message Full message (what failed, state, fix).
   * @param details Directory and byte counts.
   * @param options Standard error options (`cause`).
   */
  constructor(
    message: string,
    details: { dir: string; neededBytes?: number; availableBytes?: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "InsufficientSpaceError";
    this.dir = details.dir;
    this.neededBytes = details.neededBytes;
    this.availableBytes = details.availableBytes;
  }
}

/**
 * The cache holds something the fetcher never creates and will not use: a symbolic link where an entry's directory,
 * model, partial download, sidecar, metadata or lock file belongs, or a non-directory where a directory belongs.
 * Following it could read a file outside the cache as a model, or truncate and overwrite one (the partial download
 * and the lock file are opened for writing).
 */
export class UnsafeCacheError extends Error {
  /** The offending path. */
  readonly path: string;
  /**
   * Creates the error.
   *
   * @param message Full message (what failed, state, fix).
   * @param path The offending path.
   */
  constructor(message: string, path: string) {
    super(message);
    this.name = "UnsafeCacheError";
    this.path = path;
  }
}
