/** Errors of the differential runner (stable codes, CTO_RUN_*). */
import { CtoffloadError } from '../../model/errors.js';

export type RunnerErrorCode =
  /** A target call (create, load, reset, send, close) missed its deadline. */
  | 'CTO_RUN_TIMEOUT'
  /** Bad runner options (runs, jobs, seed, path). */
  | 'CTO_RUN_OPTIONS'
  /** A target could not be started or rejected the policy: the run cannot begin. */
  | 'CTO_RUN_TARGET';

export class RunnerError extends CtoffloadError {
  constructor(code: RunnerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** `p` or a CTO_RUN_TIMEOUT naming `what` after `ms`. The timer never keeps the process alive. */
export async function withDeadline<T>(p: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RunnerError('CTO_RUN_TIMEOUT', `${typeof what === 'function' ? what() : what}: no answer within ${ms} ms`)), ms);
    timer.unref?.();
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export function errorText(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const msg = typeof err?.message === 'string' ? err.message : String(e);
  return typeof err?.code === 'string' ? `${err.code}: ${msg}` : msg;
}
