/**
 * A small typed model of the P4-16 v1model program the generator emits. It covers only what
 * the generator needs (declarations, parser states, actions, tables, control bodies with
 * if/else); expressions stay strings. Tests inspect this structure (which tables, keys,
 * actions, sizes) instead of string snapshots; `emitProgram` (offload/emit.ts) prints it.
 */

export interface Field {
  name: string;
  width: number;
  /** `varbit<W>` instead of `bit<W>`. */
  varbit?: boolean;
  comment?: string;
}

export interface HeaderDecl {
  kind: 'header';
  name: string;
  fields: Field[];
  annotations?: string[];
  comment?: string[];
}

export interface StructDecl {
  kind: 'struct';
  name: string;
  /** Members: `type name` pairs, e.g. { type: 'ethernet_t', name: 'ethernet' } or bit fields. */
  members: { type: string; name: string; comment?: string }[];
  comment?: string[];
}

export interface ConstDecl {
  kind: 'const';
  type: string;
  name: string;
  value: string;
  comment?: string;
}

export interface CommentDecl {
  kind: 'comment';
  lines: string[];
}

export type Stmt =
  | { k: 'assign'; lhs: string; rhs: string }
  | { k: 'call'; text: string }
  | { k: 'apply'; table: string }
  | { k: 'if'; cond: string; then: Stmt[]; else?: Stmt[] }
  | { k: 'comment'; text: string }
  | { k: 'blank' };

export interface ActionDecl {
  name: string;
  params: { name: string; width: number }[];
  body: Stmt[];
  comment?: string[];
  annotations?: string[];
}

export type MatchKind = 'exact' | 'ternary' | 'lpm' | 'optional' | 'range';

export interface TableKey {
  expr: string;
  match: MatchKind;
  /** `@name(...)`: the P4Info match field name. */
  name: string;
}

export interface TableDecl {
  name: string;
  keys: TableKey[];
  actions: { name: string; annotation?: '@tableonly' | '@defaultonly' }[];
  defaultAction: { name: string; args: string[]; isConst: boolean };
  size: number;
  supportTimeout?: boolean;
  /** Name of a `direct_counter` declared in the same control. */
  counters?: string;
  comment?: string[];
}

export interface DirectCounterDecl {
  name: string;
  type: 'packets' | 'bytes' | 'packets_and_bytes';
}

export interface ControlDecl {
  kind: 'control';
  name: string;
  params: string;
  counters: DirectCounterDecl[];
  actions: ActionDecl[];
  tables: TableDecl[];
  apply: Stmt[];
  comment?: string[];
}

export interface ParserState {
  name: string;
  body: Stmt[];
  /** `transition accept;` (string) or a select. */
  transition: string | { select: string; cases: { value: string; state: string }[] };
  comment?: string;
}

export interface ParserDecl {
  kind: 'parser';
  name: string;
  params: string;
  states: ParserState[];
  comment?: string[];
}

export type Decl = HeaderDecl | StructDecl | ConstDecl | CommentDecl | ParserDecl | ControlDecl | { kind: 'raw'; lines: string[] };

export interface P4Program {
  /** Leading comment block (design notes). */
  preamble: string[];
  includes: string[];
  decls: Decl[];
  /** Final `V1Switch(...) main;` line. */
  main: string;
}

// --- small builders ----------------------------------------------------------------------------

export const assign = (lhs: string, rhs: string): Stmt => ({ k: 'assign', lhs, rhs });
export const call = (text: string): Stmt => ({ k: 'call', text });
export const apply = (table: string): Stmt => ({ k: 'apply', table });
export const iff = (cond: string, then: Stmt[], els?: Stmt[]): Stmt => (els && els.length ? { k: 'if', cond, then, else: els } : { k: 'if', cond, then });
export const comment = (text: string): Stmt => ({ k: 'comment', text });
export const blank = (): Stmt => ({ k: 'blank' });

/** Every control of the program. */
export function controls(p: P4Program): ControlDecl[] {
  return p.decls.filter((d): d is ControlDecl => d.kind === 'control');
}

/** Find a table by its local name in any control (tests). */
export function findTable(p: P4Program, name: string): { control: ControlDecl; table: TableDecl } | undefined {
  for (const c of controls(p)) {
    const t = c.tables.find((x) => x.name === name);
    if (t) return { control: c, table: t };
  }
  return undefined;
}
