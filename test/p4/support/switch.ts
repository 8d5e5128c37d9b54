/**
 * Minimal simple_switch_grpc + p4c-bm2-ss helpers for the P4Runtime client's integration suite
 * (the full driver is p4/bmv2.ts; this keeps the suite independent of it). Every instance gets
 * its own free P4Runtime and Thrift ports (docs/p4-target-interfaces.md §5.1: a taken Thrift port breaks the switch).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTool } from '../../support/tools.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Compiled {
  json: Buffer;
  p4info: Buffer;
}

/** Compile a fixture under test/p4/fixtures with p4c-bm2-ss (bmv2 JSON + binary P4Info). */
export function compileFixture(name: string): Promise<Compiled> {
  const src = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'ctoffload-p4c-'));
  const json = join(dir, 'out.json');
  const info = join(dir, 'out.p4info.bin');
  return new Promise((resolve, reject) => {
    execFile(findTool('p4c-bm2-ss', 'CTOFFLOAD_P4C')!, ['-o', json, '--p4runtime-files', info, src], { timeout: 60_000 }, (err, _out, stderr) => {
      try {
        if (err) reject(new Error(`p4c-bm2-ss failed: ${stderr}`));
        else resolve({ json: readFileSync(json), p4info: readFileSync(info) });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

export interface RunningSwitch {
  address: string;
  grpcPort: number;
  thriftPort: number;
  deviceId: bigint;
  cpuPort: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Start simple_switch_grpc with no program (`--no-p4`), device id 1, CPU port 510. */
export async function startSwitch(ports: { grpcPort?: number; thriftPort?: number } = {}): Promise<RunningSwitch> {
  const grpcPort = ports.grpcPort ?? (await freePort());
  const thriftPort = ports.thriftPort ?? (await freePort());
  const address = `127.0.0.1:${grpcPort}`;
  const proc = spawn(
    findTool('simple_switch_grpc', 'CTOFFLOAD_BMV2')!,
    ['--device-id', '1', '--thrift-port', String(thriftPort), '--log-level', 'off', '--no-p4', '--', '--grpc-server-addr', address, '--cpu-port', '510'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    address,
    grpcPort,
    thriftPort,
    deviceId: 1n,
    cpuPort: 510,
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      if (stderr.trim()) process.stderr.write(`simple_switch_grpc stderr: ${stderr}\n`);
    },
  };
}
