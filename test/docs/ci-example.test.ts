/**
 * docs/examples/conformance-shards.yml, the README's CI matrix example, run locally: its shard
 * command once per matrix value and its merge command over the artifacts as the merge job
 * downloads them (reports/<artifact name>/), with `--target model` instead of ovs and fewer
 * runs. The merged report must equal the unsharded run's (verdict, counts).
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../harness/cli/command.js';
import { runConformanceCli } from '../../harness/cli/conformance.js';
import { runReportCli } from '../../harness/cli/report.js';
import type { ConformanceReport } from '../../harness/report/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const yml = readFileSync(join(ROOT, 'docs/examples/conformance-shards.yml'), 'utf8');
const tmp = mkdtempSync(join(tmpdir(), 'cto-ci-example-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}

/** Value of a top-level env entry. */
function env(name: string): string {
  const m = new RegExp(`^  ${name}: "?([^"\\s#]+)"?`, 'm').exec(yml);
  if (!m) throw new Error(`env ${name} not in the example`);
  return m[1]!;
}

/** The `run:` line holding `what`, as argv after `npx ctoffload <command>`, variables substituted. */
function command(what: string, vars: Record<string, string>): string[] {
  const line = yml.split('\n').find((l) => l.includes(`run: npx ctoffload ${what}`));
  if (!line) throw new Error(`no 'npx ctoffload ${what}' step in the example`);
  const text = line.replace(/^.*run: npx ctoffload /, '')
    .replace(/\$\{\{\s*matrix\.shard\s*\}\}/g, vars.shard ?? '')
    .replace(/\$([A-Z_]+)/g, (_, v: string) => vars[v] ?? env(v));
  return text.split(/\s+/).filter(Boolean).map((t) => t.replace(/^"|"$/g, '').replace(/"/g, ''));
}

describe('the CI matrix example', () => {
  it('runs one shard per matrix value and merges the downloaded artifacts into the unsharded result', async () => {
    const shards = Number(env('SHARDS'));
    const matrix = /shard: \[([\d, ]+)\]/.exec(yml)![1]!.split(',').map((s) => Number(s.trim()));
    expect(matrix).toEqual(Array.from({ length: shards }, (_, k) => k + 1));
    const runs = '30'; // the example's RUNS is for a real target; the model is a self-check
    const local = (argv: string[]): string[] => argv.map((a, k) => {
      if (argv[k - 1] === '--target') return 'model';
      if (argv[k - 1] === '--runs') return runs;
      if (argv[k - 1] === '--policy') return join(ROOT, a);
      return a;
    });

    // The matrix jobs.
    const artifact = /name: (conformance-shard-)\$\{\{ matrix\.shard \}\}/.exec(yml)![1]!;
    for (const i of matrix) {
      const argv = local(command('conformance', { shard: String(i) }));
      expect(argv[0]).toBe('conformance');
      const rep = argv[argv.indexOf('--report') + 1]!;
      argv[argv.indexOf('--report') + 1] = join(tmp, rep);
      const x = io();
      expect(await runConformanceCli(argv.slice(1), x, { progress: false }), x.e).toBe(0);
      expect(x.o).toContain(`shard ${i}/${shards} of ${runs} runs`);
      // upload-artifact, then download-artifact with a pattern: reports/<artifact name>/.
      cpSync(join(tmp, rep), join(tmp, 'download', 'reports', `${artifact}${i}`), { recursive: true });
    }

    // The merge job, with the shell's glob expanded.
    const argv = command('report merge', {});
    const glob = argv.find((a) => a.endsWith('*'))!;
    const [gdir, gpre] = [glob.slice(0, glob.lastIndexOf('/')), glob.slice(glob.lastIndexOf('/') + 1, -1)];
    const dirs = readdirSync(join(tmp, 'download', gdir)).filter((d) => d.startsWith(gpre)).sort().map((d) => join(tmp, 'download', gdir, d));
    expect(dirs).toHaveLength(shards);
    const out = join(tmp, 'download', argv[argv.indexOf('--out') + 1]!);
    const merged = [...argv.slice(1, argv.indexOf(glob)), ...dirs, ...argv.slice(argv.indexOf(glob) + 1)].map((a, k, all) => (all[k - 1] === '--out' ? out : a));
    const m = io();
    expect(await runReportCli(['merge', ...merged.slice(1)], m), m.e).toBe(0);
    expect(m.o).toContain(`PASSED (${shards} shards merged)`);

    // The same campaign unsharded.
    const whole = join(tmp, 'whole');
    const w = local(command('conformance', { shard: '1' }));
    w.splice(w.indexOf('--shard'), 2);
    w[w.indexOf('--report') + 1] = whole;
    expect(await runConformanceCli(w.slice(1), io(), { progress: false })).toBe(0);
    const a = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ConformanceReport;
    const b = JSON.parse(readFileSync(join(whole, 'report.json'), 'utf8')) as ConformanceReport;
    expect(a.status).toBe(b.status);
    expect(a.properties[0]!.counts).toEqual(b.properties[0]!.counts);
    expect(a.properties[0]!.config.runs).toBe(Number(runs));
  });
});
