/**
 * Printer for the P4 AST of offload/p4ast.ts: four-space indentation, one declaration per
 * block, comments kept where the generator put them (policy lines above their tables).
 */
import type { ActionDecl, ControlDecl, Decl, P4Program, ParserDecl, Stmt, TableDecl } from './p4ast.js';

const IND = '    ';

function commentLines(lines: string[] | undefined, ind: string): string[] {
  if (!lines || lines.length === 0) return [];
  return lines.map((l) => (l === '' ? `${ind}//` : `${ind}// ${l}`));
}

export function emitStmts(stmts: Stmt[], ind: string): string[] {
  const out: string[] = [];
  for (const s of stmts) {
    switch (s.k) {
      case 'assign':
        out.push(`${ind}${s.lhs} = ${s.rhs};`);
        break;
      case 'call':
        out.push(`${ind}${s.text};`);
        break;
      case 'apply':
        out.push(`${ind}${s.table}.apply();`);
        break;
      case 'comment':
        out.push(`${ind}// ${s.text}`);
        break;
      case 'blank':
        out.push('');
        break;
      case 'if': {
        out.push(`${ind}if (${s.cond}) {`);
        out.push(...emitStmts(s.then, ind + IND));
        let els = s.else;
        // `else if` chains print flat.
        while (els && els.length === 1 && els[0]!.k === 'if') {
          const e = els[0] as Extract<Stmt, { k: 'if' }>;
          out.push(`${ind}} else if (${e.cond}) {`);
          out.push(...emitStmts(e.then, ind + IND));
          els = e.else;
        }
        if (els && els.length) {
          out.push(`${ind}} else {`);
          out.push(...emitStmts(els, ind + IND));
        }
        out.push(`${ind}}`);
        break;
      }
    }
  }
  return out;
}

function emitAction(a: ActionDecl, ind: string): string[] {
  const params = a.params.map((p) => `bit<${p.width}> ${p.name}`).join(', ');
  const ann = a.annotations?.length ? `${a.annotations.join(' ')} ` : '';
  return [...commentLines(a.comment, ind), `${ind}${ann}action ${a.name}(${params}) {`, ...emitStmts(a.body, ind + IND), `${ind}}`];
}

function emitTable(t: TableDecl, ind: string): string[] {
  const i2 = ind + IND;
  const i3 = i2 + IND;
  const out = [...commentLines(t.comment, ind), `${ind}table ${t.name} {`];
  if (t.keys.length) {
    out.push(`${i2}key = {`);
    for (const k of t.keys) out.push(`${i3}${k.expr}: ${k.match} @name("${k.name}");`);
    out.push(`${i2}}`);
  }
  out.push(`${i2}actions = {`);
  for (const a of t.actions) out.push(`${i3}${a.annotation ? a.annotation + ' ' : ''}${a.name};`);
  out.push(`${i2}}`);
  out.push(`${i2}${t.defaultAction.isConst ? 'const ' : ''}default_action = ${t.defaultAction.name}(${t.defaultAction.args.join(', ')});`);
  out.push(`${i2}size = ${t.size};`);
  if (t.supportTimeout) out.push(`${i2}support_timeout = true;`);
  if (t.counters) out.push(`${i2}counters = ${t.counters};`);
  out.push(`${ind}}`);
  return out;
}

function emitControl(c: ControlDecl): string[] {
  const out = [...commentLines(c.comment, ''), `control ${c.name}(${c.params}) {`];
  for (const d of c.counters) out.push(`${IND}direct_counter(CounterType.${d.type}) ${d.name};`);
  if (c.counters.length) out.push('');
  for (const a of c.actions) out.push(...emitAction(a, IND), '');
  for (const t of c.tables) out.push(...emitTable(t, IND), '');
  out.push(`${IND}apply {`, ...emitStmts(c.apply, IND + IND), `${IND}}`, '}');
  return out;
}

function emitParser(p: ParserDecl): string[] {
  const out = [...commentLines(p.comment, ''), `parser ${p.name}(${p.params}) {`];
  p.states.forEach((s, i) => {
    if (i) out.push('');
    if (s.comment) out.push(`${IND}// ${s.comment}`);
    out.push(`${IND}state ${s.name} {`);
    out.push(...emitStmts(s.body, IND + IND));
    if (typeof s.transition === 'string') out.push(`${IND}${IND}transition ${s.transition};`);
    else {
      out.push(`${IND}${IND}transition select(${s.transition.select}) {`);
      for (const c of s.transition.cases) out.push(`${IND}${IND}${IND}${c.value}: ${c.state};`);
      out.push(`${IND}${IND}}`);
    }
    out.push(`${IND}}`);
  });
  out.push('}');
  return out;
}

function emitDecl(d: Decl): string[] {
  switch (d.kind) {
    case 'comment':
      return commentLines(d.lines, '');
    case 'raw':
      return d.lines;
    case 'const':
      return [`const ${d.type} ${d.name} = ${d.value};${d.comment ? ` // ${d.comment}` : ''}`];
    case 'header': {
      const out = [...commentLines(d.comment, ''), ...(d.annotations ?? []), `header ${d.name} {`];
      for (const f of d.fields) out.push(`${IND}${f.varbit ? 'varbit' : 'bit'}<${f.width}> ${f.name};${f.comment ? ` // ${f.comment}` : ''}`);
      out.push('}');
      return out;
    }
    case 'struct': {
      const out = [...commentLines(d.comment, ''), `struct ${d.name} {`];
      for (const m of d.members) out.push(`${IND}${m.type} ${m.name};${m.comment ? ` // ${m.comment}` : ''}`);
      out.push('}');
      return out;
    }
    case 'parser':
      return emitParser(d);
    case 'control':
      return emitControl(d);
  }
}

/** The program as P4-16 source text. */
export function emitProgram(p: P4Program): string {
  const out: string[] = [];
  out.push('/*');
  for (const l of p.preamble) out.push(l === '' ? ' *' : ` * ${l}`);
  out.push(' */');
  for (const inc of p.includes) out.push(inc);
  out.push('');
  let prevConst = false;
  for (const d of p.decls) {
    const isConst = d.kind === 'const';
    if (!(isConst && prevConst)) out.push('');
    out.push(...emitDecl(d));
    prevConst = isConst;
  }
  out.push('', p.main, '');
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}
