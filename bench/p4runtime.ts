/**
 * P4Runtime write rate of the ctoffload client against bmv2 simple_switch_grpc (PI):
 * exact-match INSERTs per second for batches of 1, 100 and 1000 updates per `write()` call.
 * `write()` splits a 1000-update call into Write RPCs of ≤ 500 (the grpc-js-safe cap,
 * p4/write-error.ts), so that figure is two RPCs per call. Skips (with a note) when
 * simple_switch_grpc or p4c-bm2-ss is absent. Doc §5.6 gives Python grpcio figures for comparison
 * (one batch of 1000: ~23 000–36 000 updates/s; single updates: ~1 700–1 900/s).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { P4InfoIndex, P4RuntimeClient, insert, remove, tableEntry, waitForP4Runtime, type Update } from '../p4/index.js';

import type { BenchResult } from './result.js';
export type { BenchResult };

const PROGRAM = `
#include <core.p4>
#include <v1model.p4>
header ethernet_h { bit<48> dst; bit<48> src; bit<16> ether_type; }
struct headers_t { ethernet_h ethernet; }
struct meta_t { }
parser P(packet_in pkt, out headers_t hdr, inout meta_t m, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.ethernet); transition accept; }
}
control VC(inout headers_t hdr, inout meta_t m) { apply { } }
control I(inout headers_t hdr, inout meta_t m, inout standard_metadata_t sm) {
    action fwd(bit<9> port) { sm.egress_spec = port; }
    action drop() { mark_to_drop(sm); }
    table dmac {
        key = { hdr.ethernet.dst: exact; hdr.ethernet.src: exact; }
        actions = { fwd; drop; }
        default_action = drop();
        size = 65536;
    }
    apply { dmac.apply(); }
}
control E(inout headers_t hdr, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t m) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ethernet); } }
V1Switch(P(), VC(), I(), E(), C(), D()) main;
`;

function tool(cmd: string, env: string): string | null {
  if (process.env[env]) return process.env[env]!;
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

export async function benchP4Runtime(): Promise<BenchResult[]> {
  const names = [1, 100, 1000].map((n) => `p4runtime write, batch ${n}`);
  const bmv2 = tool('simple_switch_grpc', 'CTOFFLOAD_BMV2');
  const p4c = tool('p4c-bm2-ss', 'CTOFFLOAD_P4C');
  if (!bmv2 || !p4c) {
    const note = `skipped: ${!bmv2 ? 'simple_switch_grpc' : ''}${!bmv2 && !p4c ? ' and ' : ''}${!p4c ? 'p4c-bm2-ss' : ''} not found`;
    return names.map((name) => ({ name, value: 0, unit: 'updates/s', note }));
  }
  const dir = mkdtempSync(join(tmpdir(), 'ctoffload-bench-p4rt-'));
  let proc: ReturnType<typeof spawn> | undefined;
  let client: P4RuntimeClient | undefined;
  try {
    writeFileSync(join(dir, 'bench.p4'), PROGRAM);
    await new Promise<void>((resolve, reject) =>
      execFile(p4c, ['-o', join(dir, 'bench.json'), '--p4runtime-files', join(dir, 'bench.p4info.bin'), join(dir, 'bench.p4')], { timeout: 60_000 }, (err, _o, stderr) =>
        err ? reject(new Error(`p4c-bm2-ss: ${stderr}`)) : resolve(),
      ),
    );
    const idx = P4InfoIndex.from(readFileSync(join(dir, 'bench.p4info.bin')));
    const address = `127.0.0.1:${await freePort()}`;
    proc = spawn(bmv2, ['--device-id', '1', '--thrift-port', String(await freePort()), '--log-level', 'off', '--no-p4', '--', '--grpc-server-addr', address], { stdio: 'ignore' });
    await waitForP4Runtime(address, 15_000);
    client = await P4RuntimeClient.connect(address, { deviceId: 1n, electionId: 1n, reconnect: false });
    await client.setPipeline({ p4info: idx, deviceConfig: readFileSync(join(dir, 'bench.json')) });

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
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
