/**
 * ReportWriter safety (issue 12): symlinks planted at any file name are never followed, a second
 * run on the same directory is refused (report.lock), a directory that cannot be written is a
 * located CTO_REPORT_DIR, and a disk that fills up mid-run (ENOSPC, injected at the writer's fs
 * seam, and for real on a tiny tmpfs when this process may mount one) stops the run with the
 * report final (`error`) and no temporary file left.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkReport, ReportWriter, type ConformanceReport } from '../../../harness/report/index.js';
import { LOCK_FILE, type WriterFs } from '../../../harness/report/writer.js';
import { runConformance } from '../../../harness/runner/index.js';
import { classifyError } from '../../../harness/cli/command.js';
import { DefectTarget, estAfterRstBecomesNew, modelTarget, POLICY } from '../runner/fake-target.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(join(tmpdir(), 'cto-writer-'));
  dirs.push(d);
  return d;
};
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m]);
    } catch {
      /* not mounted */
    }
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const base = { policy: POLICY, reference: modelTarget, target: async () => DefectTarget.model(estAfterRstBecomesNew), runs: 200, seed: 42 } as const;
const readReport = (d: string): ConformanceReport => JSON.parse(fs.readFileSync(join(d, 'report.json'), 'utf8')) as ConformanceReport;
const leftovers = (d: string): string[] => fs.readdirSync(d).filter((n) => n.endsWith('.tmp') || n === LOCK_FILE);

/** Can this process mount a tmpfs (root in a container that allows it)? */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const m = tmp();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', m], { stdio: 'ignore' });
    execFileSync('umount', [m], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const MOUNT = canMount();
if (!MOUNT) process.stderr.write('\n*** writer.test.ts: cannot mount a tmpfs here: the real-disk-full and read-only-mount cases use the fs seam and chmod instead ***\n');

function mountTmpfs(opts: string): string {
  const m = tmp();
  execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', m]);
  mounts.push(m);
  return m;
}

describe('symlinks in the report directory are never followed', () => {
  it('a symlink planted at traces.jsonl or at a report file is replaced, its target untouched', async () => {
    const d = tmp();
    const victim = join(tmp(), 'precious.txt');
    fs.writeFileSync(victim, 'do not overwrite\n');
    for (const n of ['traces.jsonl', 'report.json', 'report.html', 'junit.xml', 'counterexample-1.json']) fs.symlinkSync(victim, join(d, n));
    await runConformance({ ...base, reportDir: d });
    expect(fs.readFileSync(victim, 'utf8')).toBe('do not overwrite\n');
    for (const n of ['traces.jsonl', 'report.json', 'report.html', 'junit.xml', 'counterexample-1.json']) expect(fs.lstatSync(join(d, n)).isSymbolicLink(), n).toBe(false);
    expect(readReport(d).status).toBe('failed');
    expect(leftovers(d)).toEqual([]);
  });

  it('temporary files are fresh names opened O_EXCL|O_NOFOLLOW: a planted "report.json.tmp" link is left alone', async () => {
    const d = tmp();
    const victim = join(tmp(), 'precious.txt');
    fs.writeFileSync(victim, 'keep\n');
    fs.symlinkSync(victim, join(d, 'report.json.tmp'));
    await runConformance({ ...base, runs: 5, seed: 1, target: modelTarget, reportDir: d });
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep\n');
    expect(readReport(d).status).toBe('passed');
  });
});

describe('one run per report directory', () => {
  it('a second writer on a directory in use is refused, naming the holder; the lock goes at the end', () => {
    const d = tmp();
    const w = new ReportWriter(d, { command: 'ctoffload conformance --target ovs …' });
    let err: (Error & { code?: string }) | null = null;
    try {
      new ReportWriter(d);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('CTO_REPORT_LOCKED');
    expect(err?.message).toContain(`--report ${d}: in use by another run (pid ${process.pid}`);
    expect(err?.message).toContain('ctoffload conformance --target ovs');
    expect(classifyError(err)).toBe('usage');
    w.finish('passed');
    expect(fs.existsSync(join(d, LOCK_FILE))).toBe(false);
    new ReportWriter(d).finish('passed'); // free again
  });

  it('a lock left by a process that is gone is taken over', () => {
    const d = tmp();
    // A pid that cannot be alive: one past the kernel's maximum.
    const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    fs.writeFileSync(join(d, LOCK_FILE), JSON.stringify({ pid: max + 1, startedAt: 'then' }));
    const w = new ReportWriter(d);
    w.finish('passed');
    expect(readReport(d).status).toBe('passed');
  });

  it('counterexample files of an earlier run do not survive into the next one', async () => {
    const d = tmp();
    fs.writeFileSync(join(d, 'counterexample-7.json'), '{}');
    fs.writeFileSync(join(d, 'counterexample-7.pcapng'), '');
    await runConformance({ ...base, runs: 5, seed: 1, target: modelTarget, reportDir: d });
    expect(fs.readdirSync(d).filter((n) => n.startsWith('counterexample-'))).toEqual([]);
  });
});

describe('report directories that cannot be written: located, classified, no stack', () => {
  it('onto a file', () => {
    const f = join(tmp(), 'a-file');
    fs.writeFileSync(f, 'x');
    let err: (Error & { code?: string }) | null = null;
    try {
      new ReportWriter(join(f, 'out'));
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('CTO_REPORT_DIR');
    expect(err?.message).toBe(`--report ${join(f, 'out')}: cannot create the report directory: ENOTDIR (not a directory)`);
    expect(classifyError(err)).toBe('usage');
  });

  it('a read-only directory (a read-only mount when root, chmod otherwise)', () => {
    let d: string;
    if (MOUNT) d = mountTmpfs('size=64k,ro');
    else if (process.getuid?.() !== 0) {
      d = tmp();
      fs.chmodSync(d, 0o555);
    } else return; // root without mount: chmod does not stop root; the seam cases below cover it
    let err: (Error & { code?: string }) | null = null;
    try {
      new ReportWriter(join(d, 'out'));
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('CTO_REPORT_DIR');
    expect(err?.message).toMatch(/^--report .*\/out: cannot create the report directory: (EROFS \(read-only file system\)|EACCES \(permission denied\))$/);
  });
});

/**
 * The real fs, as a full disk behaves from the `n`-th write on: writes to files it creates
 * (temporary files, traces.jsonl) fail with `code`, rewriting a file that exists in place
 * (blocks already allocated) still works.
 */
function failingFs(code: string, n: number): WriterFs & { writes: number } {
  const created = new Set<number>();
  const f = {
    writes: 0,
    mkdirSync: fs.mkdirSync,
    openSync: ((p: fs.PathLike, flags: number, mode?: number) => {
      const fd = fs.openSync(p, flags, mode);
      if (flags & fs.constants.O_CREAT) created.add(fd);
      else created.delete(fd);
      return fd;
    }) as WriterFs['openSync'],
    writeSync: (fd: number, data: string | Uint8Array): number => {
      if (++f.writes >= n && created.has(fd)) throw Object.assign(new Error(`${code}: no space left on device, write`), { code, errno: -28, syscall: 'write' });
      return typeof data === 'string' ? fs.writeSync(fd, data) : fs.writeSync(fd, data);
    },
    closeSync: fs.closeSync,
    renameSync: fs.renameSync,
    unlinkSync: fs.unlinkSync,
    readFileSync: (p: string, e: 'utf8') => fs.readFileSync(p, e),
    readdirSync: (p: string) => fs.readdirSync(p),
    fstatSync: fs.fstatSync,
    ftruncateSync: fs.ftruncateSync,
  };
  return f;
}

describe('a disk that fills up during the run', () => {
  it('(fs seam) stops the run, reports error with the place, removes the temporary file, keeps no lock', async () => {
    const d = tmp();
    // The lock, traces and the first writes succeed; the disk is "full" from the 40th write on.
    const bad = failingFs('ENOSPC', 40);
    const w0 = new ReportWriter(d, { fs: bad });
    w0.finish('passed'); // (exercise the constructor path with the seam)
    bad.writes = 0;
    let thrown: (Error & { code?: string }) | null = null;
    const r = await runConformance({ ...base, reportDir: d, writerFs: bad }).catch((e: unknown) => {
      thrown = e as Error & { code?: string };
      return null;
    });
    expect(r).toBeNull();
    expect(thrown!.code).toBe('CTO_REPORT_WRITE');
    expect(thrown!.message).toMatch(new RegExp(`^--report ${d}: cannot (write|append to) [a-z.0-9-]+: ENOSPC \\(no space left on device\\)`));
    expect(classifyError(thrown)).toBe('environment');
    const rep = readReport(d);
    expect(rep.status).toBe('error');
    expect(rep.error).toContain('ENOSPC');
    expect(rep.finishedAt).toBeDefined();
    expect(leftovers(d)).toEqual([]);
  });

  it.runIf(MOUNT)('(a real 16 KiB tmpfs) the same, with report.json rewritten in place', async () => {
    const m = mountTmpfs('size=16k');
    const d = join(m, 'out');
    let thrown: (Error & { code?: string }) | null = null;
    await runConformance({ ...base, runs: 2000, reportDir: d }).catch((e: unknown) => {
      thrown = e as Error & { code?: string };
    });
    expect(thrown, 'the disk should have filled up').not.toBeNull();
    expect(thrown!.code).toBe('CTO_REPORT_WRITE');
    expect(thrown!.message).toContain('ENOSPC (no space left on device)');
    const rep = readReport(d);
    expect(rep.status).toBe('error');
    expect(rep.error).toContain('ENOSPC');
    expect(checkReport(rep).filter((p) => !p.includes('counterexample'))).toEqual([]);
    expect(leftovers(d)).toEqual([]);
  });
});
