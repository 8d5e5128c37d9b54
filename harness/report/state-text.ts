/**
 * A counterexample's state snapshot (both sides just before the failing packet) as indented text
 * lines, for the CLI summary and junit.xml; report.json and report.html carry it whole.
 */
import type { StateSnapshot } from './schema.js';

/** `indent` before every line; at most `maxLines` lines per section (the rest counted). */
export function stateTextLines(st: StateSnapshot, indent = '', maxLines = Infinity): string[] {
  const lines = [`${indent}state just before packet ${st.step}${st.note ? ` (${st.note})` : ''}:`];
  for (const [role, side] of [['reference', st.reference], ['target', st.target]] as const) {
    lines.push(`${indent}  ${role} ${side.name}:${side.note ? ` ${side.note}` : ''}`);
    for (const sec of side.sections) {
      lines.push(`${indent}    ${sec.title}`);
      for (const l of sec.lines.slice(0, maxLines)) lines.push(`${indent}      ${l}`);
      if (sec.lines.length > maxLines) lines.push(`${indent}      … ${sec.lines.length - maxLines} more (report.json / report.html)`);
    }
  }
  return lines;
}
