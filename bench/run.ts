/**
 * `npm run bench`: runs every benchmark module and prints one table (or JSON with --json).
 * Modules needing a tool that is absent report a note instead of a figure. Each module is
 * loaded lazily so that one failing module does not hide the others' figures.
 */
import type { BenchResult } from './result.js';

const MODULES: { file: string; fn: string; title: string }[] = [
  { file: './conntrack.js', fn: 'benchConntrack', title: 'model: conntrack' },
  { file: './pipeline.js', fn: 'benchPipeline', title: 'model: policy pipeline' },
  { file: './p4runtime.js', fn: 'benchP4Runtime', title: 'p4: P4Runtime writes (bmv2)' },
  { file: './bmv2.js', fn: 'benchBmv2', title: 'p4: bmv2 packet channels' },
  { file: './harness.js', fn: 'benchHarness', title: 'harness: end-to-end checking' },
  { file: './revalidate.js', fn: 'benchRevalidate', title: 'controller: policy change, connections revalidated' },
  { file: './replay.js', fn: 'benchReplay', title: 'replay: whole process, vs OVS ovstest test-conntrack pcap' },
];

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const all: (BenchResult & { group: string })[] = [];
  let failed = 0;
  for (const m of MODULES) {
    if (only.length && !only.some((o) => m.file.includes(o))) continue;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(m.file)) as Record<string, unknown>;
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') continue;
      throw err;
    }
    const fn = mod[m.fn] as (() => Promise<BenchResult[]>) | undefined;
    if (typeof fn !== 'function') continue;
    if (!json) process.stdout.write(`\n## ${m.title}\n`);
    try {
      const results = await fn();
      for (const r of results) {
        all.push({ ...r, group: m.title });
        if (!json) {
          const v = Number.isInteger(r.value) ? r.value.toLocaleString('en-US') : r.value.toLocaleString('en-US', { maximumFractionDigits: 2 });
          process.stdout.write(`  ${r.name.padEnd(58)} ${v.padStart(14)} ${r.unit}${r.note ? `  (${r.note})` : ''}\n`);
        }
      }
    } catch (err) {
      failed++;
      process.stderr.write(`bench ${m.title} failed: ${(err as Error).stack ?? err}\n`);
    }
  }
  if (json) process.stdout.write(JSON.stringify(all, null, 2) + '\n');
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(2);
  },
);
