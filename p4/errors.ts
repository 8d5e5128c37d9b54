/**
 * Errors of the p4 layer. p4/ depends on nothing else of ours (docs/architecture.md), so it has its
 * own base class with the same shape as model/errors.ts `CtoffloadError`: a stable `code`
 * (`CTO_…`, match on it rather than on `instanceof`, as undici advises) and a message that
 * names the input location (table, field, batch index).
 */
export class P4Error extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A value that does not fit a P4 field or is not a valid bytestring (spec §8.3). */
export class P4ValueError extends P4Error {
  constructor(
    message: string,
    /** Where the value was going: `table ct_table, field hdr.ipv4.src` or similar. */
    readonly where: string,
  ) {
    super('CTO_P4_VALUE', where ? `${where}: ${message}` : message);
  }
}

/** A name that is not in the P4Info; `candidates` lists close names to suggest. */
export class P4InfoUnknownNameError extends P4Error {
  constructor(
    readonly kind: string,
    readonly lookup: string,
    readonly candidates: string[],
    scope = '',
  ) {
    const hint = candidates.length ? `; did you mean ${candidates.map((c) => `'${c}'`).join(', ')}?` : '';
    super('CTO_P4INFO_UNKNOWN_NAME', `${scope}no ${kind} named '${lookup}' in the P4Info${hint}`);
  }
}

/** A dotted suffix that matches more than one object of the same kind. */
export class P4InfoAmbiguousError extends P4Error {
  constructor(
    readonly kind: string,
    readonly lookup: string,
    readonly matches: string[],
    scope = '',
  ) {
    super(
      'CTO_P4INFO_AMBIGUOUS',
      `${scope}${kind} name '${lookup}' is ambiguous: ${matches.map((m) => `'${m}'`).join(', ')}; use a longer name`,
    );
  }
}

/** A P4Info that cannot be used: `place` names the object (e.g. `tables[2] (MyIngress.t).match_fields[0]`). */
export class P4InfoFormatError extends P4Error {
  constructor(
    message: string,
    readonly place: string,
  ) {
    super('CTO_P4INFO_BAD', place ? `P4Info ${place}: ${message}` : `P4Info: ${message}`);
  }
}

/** An entity that breaks a P4Runtime rule (match kinds, priority, params; spec §9.1). */
export class P4EntityError extends P4Error {
  constructor(
    message: string,
    readonly table: string,
    readonly field?: string,
  ) {
    super('CTO_P4_ENTITY', `table '${table}'${field ? `, field '${field}'` : ''}: ${message}`);
  }
}

/**
 * A gRPC call failed as a whole (no per-update details): `grpcCode` is the canonical code
 * (google/rpc/code.proto numbers), `rpc` the method.
 */
export class P4RuntimeRpcError extends P4Error {
  constructor(
    readonly rpc: string,
    readonly grpcCode: number,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super('CTO_P4RT_RPC', `${rpc}: ${codeName(grpcCode)} (${grpcCode})${details ? `: ${details}` : ''}`, options);
  }
}

/** The client is not primary (or not connected) and the operation needs primaryship (spec §5). */
export class P4RuntimeNotPrimaryError extends P4Error {
  constructor(message: string) {
    super('CTO_P4RT_NOT_PRIMARY', message);
  }
}

/** The stream channel ended or could not be opened (arbitration failure, server gone). */
export class P4RuntimeStreamError extends P4Error {
  constructor(
    message: string,
    readonly grpcCode?: number,
  ) {
    super('CTO_P4RT_STREAM', message);
  }
}

/** Nothing answered within the deadline (readiness polling, connect). */
export class P4RuntimeTimeoutError extends P4Error {
  constructor(message: string) {
    super('CTO_P4RT_TIMEOUT', message);
  }
}

/** Names of the canonical codes (google/rpc/code.proto; same numbers as gRPC statuses). */
export const CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `CODE_${code}`;
}
