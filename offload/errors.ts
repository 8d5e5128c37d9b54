/**
 * Errors of the offload layer. Same base as the model (`CtoffloadError`, stable `code`); each
 * names the input it is about (config key, policy line, connection).
 */
import { CtoffloadError } from '../model/errors.js';

/** A bad offload configuration: `key` is the dotted path of the offending setting. */
export class OffloadConfigError extends CtoffloadError {
  constructor(
    readonly key: string,
    message: string,
    readonly source = '<config>',
  ) {
    super('CTO_OFFLOAD_CONFIG', `${source}: ${key}: ${message}`);
  }
}

/**
 * A policy the offload compiler cannot turn into a program at all (as opposed to a flow it
 * compiles to a slow-path punt, which is a diagnostic, not an error).
 */
export class OffloadCompileError extends CtoffloadError {
  constructor(
    message: string,
    readonly line = 0,
    readonly source = '<policy>',
  ) {
    super('CTO_OFFLOAD_COMPILE', line ? `${source}:${line}: ${message}` : `${source}: ${message}`);
  }
}

/** A connection that cannot be expressed as hardware entries (bad address text, unknown zone…). */
export class OffloadEntryError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_OFFLOAD_ENTRY', message);
  }
}

