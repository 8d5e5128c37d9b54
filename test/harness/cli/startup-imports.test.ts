/**
 * What `ctoffload replay` loads at start-up: the static imports reachable from the CLI's entry
 * (harness/cli/main.ts; commands other than replay are imported lazily, harness/cli/commands.ts).
 * Every module costs start-up CPU (bench/replay.ts: the whole process is what the speed bar
 * measures), and one stray import once pulled in the report stack — HTML, key coverage, the
 * offload compiler, fast-check, gRPC, prom-client — through harness/cli/signals.ts, tripling
 * `replay --help`'s CPU. Read from the sources, so the graph is the one the build emits
 * (type-only imports are erased; `await import()` is lazy by construction).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The specifiers of a module's static value imports and re-exports. */
function staticImports(source: string): string[] {
  const out: string[] = [];
  const re = /^(?:import|export)\s+([^'";]*?)\s*from\s*'([^']+)'|^import\s+'([^']+)'/gm;
  for (const m of source.matchAll(re)) {
    if (m[3]) {
      out.push(m[3]);
      continue;
    }
    const clause = m[1]!.trim();
    if (/^type\b/.test(clause)) continue;
    // `import { type A, type B } from …` is erased too: every named binding is a type.
    const named = /^\{([\s\S]*)\}$/.exec(clause);
    if (named && named[1]!.split(',').map((s) => s.trim()).filter(Boolean).every((s) => /^type\s/.test(s))) continue;
    out.push(m[2]!);
  }
  return out;
}

/** Repository-relative source files and bare packages reachable from `entry`. */
function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [resolve(ROOT, entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    const rel = relative(ROOT, file);
    if (files.has(rel)) continue;
    files.add(rel);
    for (const spec of staticImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) todo.push(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.add(spec);
    }
  }
  return { files, packages };
}

describe('replay start-up imports', () => {
  it('the walker sees the chain that once slowed start-up (the check can fail)', () => {
    const w = reachable('harness/report/writer.ts');
    expect(w.files).toContain('harness/report/html.ts');
    expect([...w.packages]).toContain('fast-check');
  });

  it('the CLI entry reaches the model and no report writer, offload, P4Runtime or npm package', () => {
    const { files, packages } = reachable('harness/cli/main.ts');
    expect(files).toContain('model/replay.ts');
    expect(files).toContain('harness/cli/signals.ts');
    expect(files).toContain('harness/report/live.ts');
    expect([...files].filter((f) => /^(harness\/report\/(?!live\.ts)|harness\/arbitraries\/|harness\/runner\/|offload\/|p4\/)/.test(f))).toEqual([]);
    expect([...packages]).toEqual([]);
  });
});
