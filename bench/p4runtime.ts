/**
 * P4Runtime write rate of the ctoffload client against bmv2 simple_switch_grpc (PI):
 * exact-match INSERTs per second for batches of 1, 100 and 1000 updates per `write()` call.
 * `write()` splits a 1000-update call into Write RPCs of ≤ 500 (the grpc-js-safe cap,
 * p4/write-error.ts), so that figure is two RPCs per call. Skips (with a note) when
 * simple_switch_grpc or p4c-bm2-ss is absent. docs/p4-target-interfaces.md §5.6 gives Python grpcio figures for comparison
 * (one batch of 1000: ~23 000–36 000 updates/s; single updates: ~1 700–1 900/s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bmv2Switch, P4InfoIndex, P4RuntimeClient, compileP4, insert, remove, tableEntry, type Update } from '../p4/index.js';
import { median, missingBmv2Tools, oneTableProgram } from './common.js';
import type { BenchResult } from './result.js';

export type { BenchResult };

const PROGRAM = oneTableProgram(`
    action fwd(bit<9> port) { sm.egress_spec = port; }
    action drop() { mark_to_drop(sm); }
    table dmac {
        key = { hdr.ethernet.dst: exact; hdr.ethernet.src: exact; }
        actions = { fwd; drop; }
        default_action = drop();
        size = 65536;
    }
    apply { dmac.apply(); }`);

export async function benchP4Runtime(): Promise<BenchResult[]> {
  const names = [1, 100, 1000].map((n) => `p4runtime write, batch ${n}`);
  const skip = missingBmv2Tools();
  if (skip) return names.map((name) => ({ name, value: 0, unit: 'updates/s', note: skip }));
  const cacheDir = mkdtempSync(join(tmpdir(), 'ctoffload-bench-p4rt-'));
  let sw: Bmv2Switch | undefined;
  let client: P4RuntimeClient | undefined;
  try {
    const prog = await compileP4({ source: PROGRAM, name: 'bench_dmac.p4' }, { cacheDir });
    const idx = P4InfoIndex.from(prog.p4info);
    sw = await Bmv2Switch.start({ logLevel: 'off' });
    client = await P4RuntimeClient.connect(sw.grpcAddress, { deviceId: sw.deviceId, electionId: 1n, reconnect: false });
    await sw.loadPipeline({ json: prog.json, p4info: idx }, { client });

    let keyBase = 0;
    const entries = (n: number): Update[] =>
      Array.from({ length: n }, () => {
        const k = keyBase++;
        return insert(tableEntry(idx, 'dmac', { match: { 'hdr.ethernet.dst': k, 'hdr.ethernet.src': 1 }, action: 'fwd', params: { port: 1 } }));
      });
    const out: BenchResult[] = [];
    for (const batch of [1, 100, 1000]) {
      // About 1000–5000 updates per run, three runs, median; entries deleted between runs.
      const total = batch === 1 ? 1000 : 5000;
      const rates: number[] = [];
      for (let run = 0; run < 3; run++) {
        const calls = Array.from({ length: total / batch }, () => entries(batch));
        const t0 = process.hrtime.bigint();
        for (const updates of calls) await client.write(updates, { batchSize: Math.min(batch, 500), deadlineMs: 30_000 });
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        rates.push(total / secs);
        await client.write(calls.flat().map((u) => remove(u.entity.tableEntry!)), { batchSize: 500, deadlineMs: 30_000 });
      }
      out.push({
        name: `p4runtime write, batch ${batch}`,
        value: Math.round(median(rates)),
        unit: 'updates/s',
        note: `exact-match INSERTs, ${total} per run, median of 3 (runs: ${rates.map((r) => Math.round(r)).join(', ')})${batch > 500 ? '; each write() call sent as 2 RPCs of 500 (grpc-js-safe cap)' : ''}`,
      });
    }
    return out;
  } catch (e) {
    return names.map((name) => ({ name, value: 0, unit: 'updates/s', note: `failed: ${(e as Error).message}` }));
  } finally {
    client?.close();
    await sw?.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
