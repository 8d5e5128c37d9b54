/**
 * p4c runner: compile a P4-16 v1model program with `p4c-bm2-ss` into a bmv2 JSON and a P4Info
 * (binary `.bin` and text `.txtpb`), with diagnostics parsed into file/line/column and outputs
 * cached by content hash (docs/p4-target-interfaces.md §7.1, §2.2).
 *
 * - Binary: `opts.p4c`, `$CTOFFLOAD_P4C`, or `p4c-bm2-ss` on PATH. It runs the system `cpp`,
 *   checked first.
 * - Outputs are trusted only on exit 0: P4Info is written before the back end, so a failed run
 *   can leave one without JSON (docs/p4-target-interfaces.md §7.1).
 * - Cache key: sha256 of the compiler version line, the program text and name, the content of
 *   every file it `#include`s that is found next to it or under `includes` (recursively; the
 *   compiler's own `core.p4`/`v1model.p4` are covered by the version), defines, include dirs and
 *   extra arguments. Entries live in `<cacheDir>/<hash>/`, written to a temp dir and renamed
 *   into place, so concurrent compiles of the same program are safe.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { P4Error } from './errors.js';
import { findExecutable, whichSync } from './which.js';

export type Severity = 'error' | 'warning' | 'info';

/** One compiler diagnostic. */
export interface P4cDiagnostic {
  /** File as the preprocessor named it (the path as passed, or the included file). */
  file?: string;
  line?: number;
  /** 1-based column: from the `^` marker (p4c) or the header (cpp/GCC). */
  column?: number;
  severity: Severity;
  /** Diagnostic name from `[--Werror=<name>]` (may contain spaces, e.g. `I/O error`). */
  name?: string;
  message: string;
  /** The quoted source line, when p4c printed one. */
  sourceLine?: string;
  /** Indented continuation lines (other locations: "---- Actual error:", …). */
  notes: string[];
}

export const P4C_INSTALL_HINT = 'build p4c v1.2.4.8 with -DENABLE_BMV2=ON (docs/p4-target-interfaces.md §8.4), or set CTOFFLOAD_P4C';

/** The compiler failed: `diagnostics` has every error and warning it printed. */
export class P4cCompileError extends P4Error {
  constructor(
    readonly diagnostics: P4cDiagnostic[],
    readonly stderr: string,
    readonly exitCode: number | null,
    readonly program: string,
  ) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const located = errors.filter((d) => d.file !== undefined);
    const first = located[0] ?? errors[0];
    const summary = first ? formatDiagnostic(first) : `p4c-bm2-ss exited with ${exitCode}: ${stderr.trim().split('\n').slice(-3).join(' | ') || '(no output)'}`;
    const more = located.length > 1 ? ` (and ${located.length - 1} more error${located.length > 2 ? 's' : ''})` : '';
    super('CTO_P4C_COMPILE', `${program}: compile failed: ${summary}${more}`);
  }

  /** The errors that point at a place in a file. */
  get errors(): P4cDiagnostic[] {
    return this.diagnostics.filter((d) => d.severity === 'error');
  }
}

/** `file:line: message` (the form editors and CI annotators understand). */
export function formatDiagnostic(d: P4cDiagnostic): string {
  const where = d.file !== undefined ? `${d.file}${d.line !== undefined ? `:${d.line}` : ''}${d.column !== undefined ? `:${d.column}` : ''}: ` : '';
  return `${where}${d.severity === 'error' ? '' : `${d.severity}: `}${d.message}`;
}

// Header forms of docs/p4-target-interfaces.md §7.1 (p4c lib/error_message.cpp, lib/source_file.cpp; GCC for cpp errors).
const P4C_HEADER = /^(\S[^(]*)\((\d+)\):\s*(?:\[--W(\w+)=([^\]]+)\]\s*)?(?:(error|warning|info):\s*)?(.*)$/;
const P4C_FILELESS = /^\[--W(\w+)=([^\]]+)\]\s*(error|warning|info):\s*(.*)$/;
const GCC_HEADER = /^(?:(.+?):(\d+):(\d+)|cc1): (fatal error|error|warning): (.*)$/;
const MARKER = /^\s*\^[\^~]*\s*$/;

/**
 * Parse p4c-bm2-ss stderr into diagnostics (docs/p4-target-interfaces.md §7.1). A line starting with whitespace continues
 * the previous diagnostic; after a p4c header with a file, the next two lines are the source
 * line (may start in column 0) and the `^` marker, whose first `^` gives the column. Lines that
 * fit no form (`compilation terminated.`) are notes of the previous diagnostic.
 */
export function parseP4cDiagnostics(stderr: string): P4cDiagnostic[] {
  const lines = stderr.replace(/\r\n/g, '\n').split('\n');
  const out: P4cDiagnostic[] = [];
  let cur: P4cDiagnostic | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    if (/^\s/.test(line)) {
      if (cur) cur.notes.push(line);
      continue;
    }
    let m = GCC_HEADER.exec(line);
    if (m) {
      cur = { severity: m[4] === 'warning' ? 'warning' : 'error', message: m[5]!, notes: [] };
      if (m[1] !== undefined) Object.assign(cur, { file: m[1], line: Number(m[2]), column: Number(m[3]) });
      out.push(cur);
      continue;
    }
    m = P4C_FILELESS.exec(line);
    if (m) {
      cur = { severity: m[3] as Severity, name: m[2]!, message: m[4]!, notes: [] };
      out.push(cur);
      continue;
    }
    m = P4C_HEADER.exec(line);
    if (m) {
      const severity: Severity = (m[5] as Severity | undefined) ?? 'error';
      cur = { file: m[1]!, line: Number(m[2]), severity, message: m[6]!.trim(), notes: [] };
      if (m[4] !== undefined) cur.name = m[4];
      out.push(cur);
      // Source line + marker.
      const src = lines[i + 1];
      const marker = lines[i + 2];
      if (src !== undefined && marker !== undefined && MARKER.test(marker)) {
        cur.sourceLine = src;
        cur.column = marker.indexOf('^') + 1;
        i += 2;
      }
      continue;
    }
    if (cur) cur.notes.push(line);
    else out.push((cur = { severity: 'error', message: line, notes: [] }));
  }
  return out;
}

export interface CompileOptions {
  /** Also copy the outputs here (`<name>.json`, `<name>.p4info.bin`, `<name>.p4info.txtpb`). */
  outDir?: string;
  /** `-I` directories. */
  includes?: string[];
  /** `-D` macros: `{ NAME: 'value' }` or `{ NAME: true }` for `-DNAME`. */
  defines?: Record<string, string | number | true>;
  /** Cache root; default `<cwd>/.ctoffload-cache/p4c`. `false` disables the cache. */
  cacheDir?: string | false;
  /** Compiler binary (default `$CTOFFLOAD_P4C`, then PATH). */
  p4c?: string;
  /** Extra compiler arguments (part of the cache key). */
  extraArgs?: string[];
  /** Kill the compiler after this long. Default 120 000 ms. */
  timeoutMs?: number;
}

export interface CompileResult {
  /** bmv2 JSON file. */
  jsonPath: string;
  /** Binary P4Info (`.bin`, for P4Info.decode). */
  p4infoPath: string;
  /** Text P4Info (`.txtpb`). */
  p4infoTextPath: string;
  /** Binary P4Info bytes. */
  p4info: Uint8Array;
  /** bmv2 JSON bytes (what SetForwardingPipelineConfig takes). */
  json: Uint8Array;
  /** Warnings and infos of a successful compile. */
  warnings: P4cDiagnostic[];
  /** Whether this came from the cache. */
  cached: boolean;
  /** Content hash (cache key). */
  hash: string;
}

const versionCache = new Map<string, string>();

function run(file: string, args: string[], opts: { cwd?: string; timeoutMs: number }): Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolvePromise) => {
    execFile(file, args, { cwd: opts.cwd, timeout: opts.timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolvePromise({ code, stdout, stderr, error: err ?? undefined });
    });
  });
}

/** `p4c-bm2-ss --version` (printed on stderr, docs/p4-target-interfaces.md §7.1), cached per binary and mtime. */
export async function p4cVersion(p4c?: string): Promise<string> {
  const bin = findExecutable('p4c-bm2-ss', { explicit: p4c, envVar: 'CTOFFLOAD_P4C', install: P4C_INSTALL_HINT });
  const key = `${bin}@${statSync(bin).mtimeMs}`;
  const hit = versionCache.get(key);
  if (hit) return hit;
  const r = await run(bin, ['--version'], { timeoutMs: 30_000 });
  const text = `${r.stdout}\n${r.stderr}`;
  const v = /Version\s+(\S.*)/.exec(text)?.[1]?.trim() ?? text.trim();
  if (r.code !== 0 || !v) throw new P4Error('CTO_P4C_VERSION', `${bin} --version failed (exit ${r.code}): ${text.trim()}`);
  versionCache.set(key, v);
  return v;
}

const INCLUDE_RE = /^[ \t]*#[ \t]*include[ \t]*[<"]([^>"]+)[>"]/gm;

/**
 * Files a program includes that are found next to it (`dir`) or under `includes`, recursively,
 * as `[path, content]` in discovery order. Includes found nowhere (the compiler's own p4include)
 * are skipped. Conditional includes are all followed (harmless: only the key grows).
 */
export function collectIncludes(source: string, dir: string | undefined, includes: readonly string[]): [string, string][] {
  const seen = new Map<string, string>();
  const visit = (text: string, from: string | undefined): void => {
    for (const m of text.matchAll(INCLUDE_RE)) {
      const name = m[1]!;
      const dirs = [...(from ? [from] : []), ...includes];
      for (const d of dirs) {
        const p = resolve(d, name);
        if (seen.has(p)) break;
        if (existsSync(p) && statSync(p).isFile()) {
          const content = readFileSync(p, 'utf8');
          seen.set(p, content);
          visit(content, dirname(p));
          break;
        }
      }
    }
  };
  visit(source, dir);
  return [...seen];
}

function defineArgs(defines: CompileOptions['defines']): string[] {
  return Object.entries(defines ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => (v === true ? `-D${k}` : `-D${k}=${v}`));
}

/**
 * Compile a P4-16 v1model program (a file path, or `{source, name}` text) to a bmv2 JSON and
 * P4Info. Throws CTO_P4C_COMPILE with parsed diagnostics on failure, CTO_TOOL_MISSING when
 * p4c-bm2-ss or cpp is absent.
 */
export async function compileP4(program: string | { source: string; name: string }, opts: CompileOptions = {}): Promise<CompileResult> {
  const p4c = findExecutable('p4c-bm2-ss', { explicit: opts.p4c, envVar: 'CTOFFLOAD_P4C', install: P4C_INSTALL_HINT });
  if (!whichSync('cpp')) {
    throw new P4Error('CTO_TOOL_MISSING', 'p4c-bm2-ss runs the C preprocessor `cpp`, which is not on PATH (Debian: apt-get install cpp)');
  }
  let source: string;
  let name: string;
  let srcDir: string | undefined;
  if (typeof program === 'string') {
    try {
      source = readFileSync(program, 'utf8');
    } catch (e) {
      throw new P4Error('CTO_P4C_INPUT', `cannot read P4 program ${program}: ${(e as Error).message}`);
    }
    name = program;
    srcDir = dirname(resolve(program));
  } else {
    source = program.source;
    name = program.name;
    if (!name || name.includes('/') || name.startsWith('.')) throw new P4Error('CTO_P4C_INPUT', `program name must be a plain file name (e.g. 'prog.p4'), got '${name}'`);
  }
  const includes = (opts.includes ?? []).map((d) => resolve(d));
  const version = await p4cVersion(p4c);
  const extra = opts.extraArgs ?? [];
  const h = createHash('sha256');
  const feed = (label: string, s: string): void => {
    h.update(`${label}\0${Buffer.byteLength(s)}\0`);
    h.update(s);
  };
  feed('version', version);
  feed('name', name);
  feed('source', source);
  for (const [p, c] of collectIncludes(source, srcDir, includes)) {
    feed('include-path', p);
    feed('include', c);
  }
  feed('includes', JSON.stringify(includes));
  feed('defines', JSON.stringify(defineArgs(opts.defines)));
  feed('extra', JSON.stringify(extra));
  const hash = h.digest('hex').slice(0, 32);

  const base = basename(name).replace(/\.p4$/, '') || 'program';
  const files = { json: `${base}.json`, bin: `${base}.p4info.bin`, txt: `${base}.p4info.txtpb`, meta: 'result.json' };
  const cacheRoot = opts.cacheDir === false ? undefined : resolve(opts.cacheDir ?? join(process.cwd(), '.ctoffload-cache', 'p4c'));
  const entry = cacheRoot ? join(cacheRoot, hash) : undefined;

  const finish = (dir: string, warnings: P4cDiagnostic[], cached: boolean): CompileResult => {
    let jsonPath = join(dir, files.json);
    let p4infoPath = join(dir, files.bin);
    let p4infoTextPath = join(dir, files.txt);
    if (opts.outDir) {
      mkdirSync(opts.outDir, { recursive: true });
      const o = resolve(opts.outDir);
      copyFileSync(jsonPath, join(o, files.json));
      copyFileSync(p4infoPath, join(o, files.bin));
      copyFileSync(p4infoTextPath, join(o, files.txt));
      jsonPath = join(o, files.json);
      p4infoPath = join(o, files.bin);
      p4infoTextPath = join(o, files.txt);
    }
    return { jsonPath, p4infoPath, p4infoTextPath, json: readFileSync(jsonPath), p4info: readFileSync(p4infoPath), warnings, cached, hash };
  };

  if (entry && existsSync(join(entry, files.meta))) {
    try {
      const meta = JSON.parse(readFileSync(join(entry, files.meta), 'utf8')) as { warnings: P4cDiagnostic[] };
      return finish(entry, meta.warnings, true);
    } catch {
      // damaged entry: compile again below and replace it
    }
  }

  if (cacheRoot) mkdirSync(cacheRoot, { recursive: true });
  const work = mkdtempSync(join(cacheRoot ?? tmpdir(), `.tmp-${hash.slice(0, 8)}-`));
  let keep = false;
  try {
    let input: string;
    let cwd: string | undefined;
    if (srcDir === undefined) {
      // Text input: written under its name and compiled from that dir, so diagnostics say `name(line)`.
      writeFileSync(join(work, name), source);
      input = name;
      cwd = work;
    } else {
      input = program as string;
    }
    const args = [
      '-o', join(work, files.json),
      '--p4runtime-files', `${join(work, files.bin)},${join(work, files.txt)}`,
      ...includes.flatMap((d) => ['-I', d]),
      ...defineArgs(opts.defines),
      ...extra,
      input,
    ];
    const r = await run(p4c, args, { cwd, timeoutMs: opts.timeoutMs ?? 120_000 });
    const diagnostics = parseP4cDiagnostics(r.stderr);
    const outputsThere = existsSync(join(work, files.json)) && existsSync(join(work, files.bin)) && existsSync(join(work, files.txt));
    if (r.code !== 0 || !outputsThere) {
      if (r.error && r.code === null) {
        const why = (r.error as { killed?: boolean }).killed ? `killed after ${opts.timeoutMs ?? 120_000} ms` : r.error.message;
        diagnostics.push({ severity: 'error', message: `p4c-bm2-ss ${why}`, notes: [] });
      }
      throw new P4cCompileError(diagnostics, r.stderr, r.code, name);
    }
    const warnings = diagnostics.filter((d) => d.severity !== 'error');
    if (srcDir === undefined) rmSync(join(work, name), { force: true });
    writeFileSync(join(work, files.meta), JSON.stringify({ name, version, warnings, args: args.slice(4) }, null, 1));
    if (!entry) {
      keep = true;
      return finish(work, warnings, false);
    }
    try {
      renameSync(work, entry);
    } catch {
      // Another compile of the same program won the race: use its entry.
      if (!existsSync(join(entry, files.meta))) throw new P4Error('CTO_P4C_CACHE', `cannot store compile output in ${entry}`);
    }
    return finish(entry, warnings, false);
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}
