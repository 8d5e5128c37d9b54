/**
 * A tiny XML 1.0 well-formedness checker for tests (no DTD, no CDATA needed): one root element,
 * balanced and properly nested tags, quoted attributes without duplicates or raw `<`, only the
 * five predefined entities and character references, no characters XML 1.0 forbids.
 * Returns the problems found (empty = well formed) and the element tree's tag names in order.
 */
export function checkXml(s: string): { problems: string[]; elements: { name: string; attrs: Record<string, string>; text: string }[] } {
  const problems: string[] = [];
  const elements: { name: string; attrs: Record<string, string>; text: string }[] = [];
  const stack: number[] = [];
  let i = 0;
  let roots = 0;
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(s)) problems.push('forbidden control character');
  const checkText = (t: string, at: number): void => {
    for (const m of t.matchAll(/&([^;\s]*);?/g)) {
      if (!/^&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(m[0])) problems.push(`bad entity ${m[0]} near ${at + (m.index ?? 0)}`);
    }
  };
  const unescape = (t: string): string =>
    t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#(\d+);/g, (_m, d: string) => String.fromCodePoint(Number(d))).replace(/&amp;/g, '&');
  if (s.startsWith('<?xml')) {
    const e = s.indexOf('?>');
    if (e < 0) return { problems: ['unterminated XML declaration'], elements };
    i = e + 2;
  }
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    const text = s.slice(i, lt < 0 ? s.length : lt);
    checkText(text, i);
    if (stack.length) elements[stack[stack.length - 1]!]!.text += unescape(text);
    else if (text.trim()) problems.push(`text outside the root near ${i}`);
    if (lt < 0) break;
    const gt = s.indexOf('>', lt);
    if (gt < 0) {
      problems.push(`unterminated tag at ${lt}`);
      break;
    }
    const tag = s.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('!--')) {
      const end = s.indexOf('-->', lt);
      i = end + 3;
      continue;
    }
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const top = stack.pop();
      if (top === undefined || elements[top]!.name !== name) problems.push(`</${name}> closes ${top === undefined ? 'nothing' : `<${elements[top]!.name}>`} at ${lt}`);
      continue;
    }
    const selfClose = tag.endsWith('/');
    const body = selfClose ? tag.slice(0, -1) : tag;
    const m = /^([A-Za-z_][\w.-]*)([\s\S]*)$/.exec(body);
    if (!m) {
      problems.push(`bad tag <${tag.slice(0, 20)}> at ${lt}`);
      continue;
    }
    const attrs: Record<string, string> = {};
    const rest = m[2]!.replace(/\s+([A-Za-z_][\w.-]*)="([^"<]*)"/g, (_a, k: string, v: string) => {
      if (k in attrs) problems.push(`duplicate attribute ${k} in <${m[1]}>`);
      checkText(v, lt);
      attrs[k] = unescape(v);
      return '';
    });
    if (rest.trim()) problems.push(`bad attributes in <${m[1]}>: ${rest.trim().slice(0, 30)}`);
    if (stack.length === 0) roots++;
    elements.push({ name: m[1]!, attrs, text: '' });
    if (!selfClose) stack.push(elements.length - 1);
  }
  if (stack.length) problems.push(`unclosed <${elements[stack[stack.length - 1]!]!.name}>`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return { problems, elements };
}
