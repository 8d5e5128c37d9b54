/**
 * The docs the code cites exist, and so do the sections it cites (docs/architecture.md, "The
 * seam": a maintainer must be able to check every "why").
 *
 * Scanned: *.ts under model/ offload/ p4/ harness/ bench/ test/, and every *.md of the repository
 * (docs/ included), never node_modules/ or dist/.
 *
 * - An explicit citation is `docs/NAME.md`, optionally followed by a section chain such as
 *   `§A.B, §C.D` or `§A.B–§A.C` (also after a line break inside a comment, or an opening
 *   parenthesis). NAME.md must exist under docs/ and every section of the chain must be a
 *   numbered heading there (`## 4.`, `### 4.9 …`). A path preceded by a backtick, a slash or a
 *   word character is someone else's (behavioral-model's `docs/simple_switch.md`) and skipped.
 * - A bare section chain outside docs/ (`(§A.B)`) is checked against the one repository doc the
 *   file cites explicitly; skipped when the file cites none or several, and when the chain
 *   belongs to the P4Runtime spec or an RFC (`spec §A.B`, `RFC NNNN §A.B`).
 * - No source names a path outside the repository (the design notes' old home, or /work).
 * - docs/README.md links every document in docs/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = join(ROOT, 'docs');
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git']);

function walk(dir: string, keep: (name: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) walk(join(dir, e.name), keep, out);
    } else if (e.isFile() && keep(e.name)) out.push(join(dir, e.name));
  }
  return out;
}

const SOURCE_DIRS = ['model', 'offload', 'p4', 'harness', 'bench', 'test'];
const tsFiles = SOURCE_DIRS.flatMap((d) => walk(join(ROOT, d), (n) => n.endsWith('.ts')));
const mdFiles = walk(ROOT, (n) => n.endsWith('.md'));
const files = [...tsFiles, ...mdFiles].sort();
const rel = (f: string): string => relative(ROOT, f);
const inDocs = (f: string): boolean => rel(f).split(sep)[0] === 'docs';

/** Numbered headings of a doc: `## 4. TCP` → "4", `### 4.9 …` → "4.9". */
const sectionCache = new Map<string, Set<string> | null>();
function sectionsOf(doc: string): Set<string> | null {
  if (!sectionCache.has(doc)) {
    const p = join(DOCS, doc);
    if (!existsSync(p)) sectionCache.set(doc, null);
    else {
      const s = new Set<string>();
      for (const line of readFileSync(p, 'utf8').split('\n')) {
        const m = /^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/.exec(line);
        if (m) s.add(m[1]!);
      }
      sectionCache.set(doc, s);
    }
  }
  return sectionCache.get(doc)!;
}

const SEC = String.raw`§\s?\d+(?:\.\d+)*`;
const CHAIN = String.raw`${SEC}(?:\s*(?:,|and|or|–|-|to)\s*${SEC})*`;
/** `docs/NAME.md` + optional section chain (group 2). */
const EXPLICIT = new RegExp(String.raw`(?<![\w/.\x60-])docs/([A-Za-z0-9_-]+\.md)(?:[\s*/]*\(?(${CHAIN}))?`, 'g');
const BARE = new RegExp(CHAIN, 'g');
const EXTERNAL_OWNER = /(?:\bspec|\brfc\s*\d+)\W*$/i;

const sectionsIn = (chain: string): string[] => [...chain.matchAll(/§\s?(\d+(?:\.\d+)*)/g)].map((m) => m[1]!);
const lineAt = (text: string, off: number): number => text.slice(0, off).split('\n').length;

interface Problem {
  where: string;
  problem: string;
}

function check(file: string): Problem[] {
  const text = readFileSync(file, 'utf8');
  const problems: Problem[] = [];
  const cited = new Set<string>();
  const covered: [number, number][] = [];
  for (const m of text.matchAll(EXPLICIT)) {
    const doc = m[1]!;
    const where = `${rel(file)}:${lineAt(text, m.index)}`;
    cited.add(doc);
    covered.push([m.index, m.index + m[0].length]);
    const secs = sectionsOf(doc);
    if (!secs) {
      problems.push({ where, problem: `docs/${doc} does not exist` });
      continue;
    }
    for (const s of sectionsIn(m[2] ?? '')) if (!secs.has(s)) problems.push({ where, problem: `docs/${doc} has no section ${s}` });
  }
  // Bare chains: only outside docs/ (the reference docs use bare § for the P4Runtime spec too).
  if (!inDocs(file) && cited.size === 1) {
    const doc = [...cited][0]!;
    const secs = sectionsOf(doc);
    if (secs) {
      for (const m of text.matchAll(BARE)) {
        if (covered.some(([a, b]) => m.index >= a && m.index < b)) continue;
        const lineStart = text.lastIndexOf('\n', m.index) + 1;
        if (EXTERNAL_OWNER.test(text.slice(lineStart, m.index))) continue;
        for (const s of sectionsIn(m[0])) {
          if (!secs.has(s)) problems.push({ where: `${rel(file)}:${lineAt(text, m.index)}`, problem: `bare §${s} (read as docs/${doc}, the one doc this file cites) is not a section of docs/${doc}` });
        }
      }
    }
  }
  return problems;
}

describe('docs citations', () => {
  it('scans the sources', () => {
    expect(tsFiles.length).toBeGreaterThan(100);
    expect(files.some((f) => rel(f) === join('docs', 'README.md'))).toBe(true);
  });

  it('every cited doc and section exists', () => {
    const problems = files.flatMap(check).map((p) => `${p.where}: ${p.problem}`);
    expect(problems).toEqual([]);
  });

  it('no source names a path outside the repository', () => {
    // Built from pieces so that this file does not match itself.
    const outside = new RegExp(`${['shared', 'docs'].join('/')}|${['', 'work', ''].join('/')}`);
    const hits: string[] = [];
    for (const f of files) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((l, i) => {
          if (outside.test(l)) hits.push(`${rel(f)}:${i + 1}: ${l.trim()}`);
        });
    }
    expect(hits).toEqual([]);
  });

  it('docs/README.md links every document in docs/', () => {
    const index = readFileSync(join(DOCS, 'README.md'), 'utf8');
    const missing = readdirSync(DOCS)
      .filter((n) => n.endsWith('.md') && n !== 'README.md')
      .filter((n) => !index.includes(`](${n})`));
    expect(missing).toEqual([]);
  });
});
