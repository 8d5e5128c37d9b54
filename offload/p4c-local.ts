/**
 * Private, minimal p4c-bm2-ss runner used until p4/p4c.ts (`compileP4`, with caching and
 * parsed diagnostics) is available; then `runP4c` should delegate to it. Invocation per doc
 * §7.1: `p4c-bm2-ss -o X.json --p4runtime-files X.p4info.bin,X.p4info.txtpb X.p4`; trust the
 * outputs only on exit 0 (P4Info is written before the back end runs).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { OffloadP4cError } from './errors.js';

export interface P4cOutputs {
  json: string;
  p4infoBin: string;
  p4infoTxt: string;
  stderr: string;
}

/** Path of p4c-bm2-ss: $CTOFFLOAD_P4C, else PATH lookup by the shell. */
export function p4cCommand(): string {
  return process.env.CTOFFLOAD_P4C || 'p4c-bm2-ss';
}

/** Compile `p4File` into `<base>.json`, `<base>.p4info.bin`, `<base>.p4info.txtpb`. */
export function runP4c(p4File: string, base: string, timeoutMs = 120_000): Promise<P4cOutputs> {
  const out = { json: `${base}.json`, p4infoBin: `${base}.p4info.bin`, p4infoTxt: `${base}.p4info.txtpb` };
  const args = ['-o', out.json, '--p4runtime-files', `${out.p4infoBin},${out.p4infoTxt}`, p4File];
  return new Promise((resolve, reject) => {
    execFile(p4cCommand(), args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        const why = e.code === 'ENOENT' ? `${p4cCommand()} not found (install p4c or set CTOFFLOAD_P4C)` : e.killed ? `timed out after ${timeoutMs} ms` : `exit ${e.code}`;
        reject(new OffloadP4cError(`p4c-bm2-ss failed on ${p4File}: ${why}\n${stderr}`, stderr));
        return;
      }
      for (const f of [out.json, out.p4infoBin]) {
        if (!existsSync(f)) {
          reject(new OffloadP4cError(`p4c-bm2-ss exited 0 but wrote no ${f}`, stderr));
          return;
        }
      }
      resolve({ ...out, stderr });
    });
  });
}

/** Whether p4c-bm2-ss can be run. */
export function hasP4c(): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(p4cCommand(), ['--version'], { timeout: 10_000 }, (err) => resolve(!err));
  });
}
