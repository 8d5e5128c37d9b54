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
