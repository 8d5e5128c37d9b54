/**
 * Errors of the model layer. Every error carries a stable `code` (match on it, not on
 * `instanceof`, as undici advises) and points at the input location where there is one.
 * The CLI treats any error whose code starts with `CTO_` as a user-facing error (exit 2).
 */
export class CtoffloadError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Malformed input file (pcap, pcapng): names the file and the byte offset. */
export class CaptureFormatError extends CtoffloadError {
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
  ) {
    super('CTO_CAPTURE_FORMAT', `${file}: byte ${offset}: ${message}`);
  }
}

/** Bad policy text: names the line and column (1-based). */
export class FlowParseError extends CtoffloadError {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
    readonly source = '<policy>',
  ) {
    super('CTO_FLOW_PARSE', `${source}:${line}:${column}: ${message}`);
  }
}

/** A value that cannot be encoded into a packet (codec build). */
export class PacketBuildError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_PACKET_BUILD', message);
  }
}

/**
 * An errno-carrying error (Node fs, child_process) as text a user can act on:
 * `EACCES (permission denied)`; the caller adds the path and what was being done.
 */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException | undefined;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const msg = err instanceof Error ? err.message : String(e);
  // Node's messages read "EACCES: permission denied, open '/x'": keep the description only.
  const m = /^[A-Z0-9_]+: ([^,]+)(,|$)/.exec(msg);
  if (code && m) return `${code} (${m[1]!.trim()})`;
  return code ?? msg;
}

/** A file that could not be read or written: names the path and the operation. */
export class FileAccessError extends CtoffloadError {
  constructor(
    code: 'CTO_IO' | 'CTO_INPUT',
    readonly path: string,
    what: string,
    cause: unknown,
  ) {
    super(code, `${path}: cannot ${what}: ${errnoText(cause)}`, { cause });
  }
}
