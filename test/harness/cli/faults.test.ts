/**
 * Fault campaign of issue 12, in process (model-backed targets; the OVS and bmv2 campaigns are
 * faults-ovs.test.ts and faults-bmv2.test.ts): SIGINT/SIGTERM at start-up, mid-trace and
 * mid-shrink, a target that fails once the signal came (what the OVS target's own handler used
 * to cause), a target that dies, a disk that fills up, read-only and symlinked report paths,
 * extreme times. Every case ends with the documented exit code, a final report (never
 * `running`), no counterexample that replays as agreement and every target closed.
 *
 * Signals are delivered with process.emit from inside the targets at a chosen point (a
 * start-up, a packet, a shrink step), so no case depends on timing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../harness/cli/command.js';
import { runConformanceCli, type ConformanceCliHooks } from '../../../harness/cli/conformance.js';
import { finishLiveWriters, ReportWriter } from '../../../harness/report/writer.js';
import type { ConformanceReport } from '../../../harness/report/index.js';
import { generateRuns } from '../../../harness/runner/index.js';
import { scenarioArb, type Scenario } from '../../../harness/arbitraries/index.js';
import type { SendStep, Target } from '../../../harness/targets/target.js';
import { CtoffloadError } from '../../../model/errors.js';
import { DefectTarget, estAfterRstBecomesNew, POLICY } from '../runner/fake-target.js';
import { cliBuilt, lineCount, startCli, waitFor } from '../../support/cli-child.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'p.flows');
writeFileSync(policyFile, POLICY.text);
let repN = 0;
const newRep = (): string => join(dir, `rep-${++repN}`);

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}
const report = (rep: string): ConformanceReport => JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8')) as ConformanceReport;

/** Targets made for one run, and how many were closed. */
interface Ledger {
  made: number;
  closed: number;
}

/**
 * A model-backed fake target; `hook(kind, n)` runs before the n-th (1-based, over the whole run)
 * create / reset / send and may emit a signal or throw.
 */
function factory(ledger: Ledger, opts: { defect?: boolean; hook?: (kind: 'create' | 'reset' | 'send', n: number, instance: number) => Promise<void> | void; maxTimeMs?: number } = {}): ConformanceCliHooks {
  const counts = { create: 0, reset: 0, send: 0 };
  return {
    progress: false,
    targetFactory: async (name: string) => {
      if (name !== 'fake') return null;
      return async (): Promise<Target> => {
        await opts.hook?.('create', ++counts.create, ledger.made + 1);
        const instance = ++ledger.made;
        const t = DefectTarget.model(opts.defect ? estAfterRstBecomesNew : (_s, v) => v);
        const send = t.send.bind(t);
        const reset = t.reset.bind(t);
        const close = t.close.bind(t);
        let closed = false;
        t.send = async (st: SendStep) => {
          await opts.hook?.('send', ++counts.send, instance);
          return send(st);
        };
        t.reset = async () => {
          await opts.hook?.('reset', ++counts.reset, instance);
          return reset();
        };
        t.close = async () => {
          if (!closed) ledger.closed++;
          closed = true;
          return close();
        };
        if (opts.maxTimeMs !== undefined) Object.assign(t, { maxTimeMs: opts.maxTimeMs });
        return t;
      };
    },
  };
}

/** The checks every fault case ends with. */
function expectFinal(rep: string, status: string, ledger: Ledger): ConformanceReport {
  const r = report(rep);
  expect(r.status).toBe(status);
  expect(r.finishedAt).toBeDefined();
  for (const p of r.properties) expect(p.status).not.toBe('running');
  expect(readdirSync(rep).filter((n) => n.endsWith('.tmp') || n === 'report.lock'), 'temporary files or lock left').toEqual([]);
  expect(ledger.closed, 'every target instance closed').toBe(ledger.made);
  return r;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('signals on the model-backed target', () => {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig} during start-up: exit ${code}, report interrupted, no trace run, targets closed`, async () => {
      const rep = newRep();
      const ledger: Ledger = { made: 0, closed: 0 };
      const hooks = factory(ledger, { hook: async (k, n) => {
        if (k === 'create' && n === 1) {
          process.emit(sig, sig); // while the target is starting
          await tick();
        }
      } });
      const x = io();
      expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '50', '--report', rep], x, hooks)).toBe(code);
      const r = expectFinal(rep, 'interrupted', ledger);
      expect(r.properties[0]!.counts.traces).toBe(0);
      expect(r.properties[0]!.counterexample).toBeNull();
      expect(x.e).toContain(sig === 'SIGINT' ? 'interrupted, finishing the current packet' : 'terminated, finishing the current packet');
    });

    it(`${sig} mid-trace: exit ${code}, report interrupted with what was done, no counterexample`, async () => {
      const rep = newRep();
      const ledger: Ledger = { made: 0, closed: 0 };
      const hooks = factory(ledger, { hook: (k, n) => {
        if (k === 'send' && n === 25) process.emit(sig, sig);
      } });
      const x = io();
      expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '1000', '--seed', '3', '--report', rep], x, hooks)).toBe(code);
      const r = expectFinal(rep, 'interrupted', ledger);
      expect(r.properties[0]!.counts.packets).toBeGreaterThan(0);
      expect(r.properties[0]!.counterexample).toBeNull();
      expect(existsSync(join(rep, 'counterexample-1.json'))).toBe(false);
    });
  }

  it('a target that fails once the signal came (its daemons stopped under it) records nothing (issue 12 defect 1)', async () => {
    const rep = newRep();
    const ledger: Ledger = { made: 0, closed: 0 };
    const hooks = factory(ledger, { hook: (k, n) => {
      if (k === 'send' && n === 30) {
        process.emit('SIGINT', 'SIGINT');
        throw new CtoffloadError('CTO_OVS_EXIT', 'unixctl dpctl/ct-get-nconns: read ECONNRESET');
      }
    } });
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '1000', '--seed', '3', '--report', rep, '--json'], x, hooks)).toBe(130);
    const r = expectFinal(rep, 'interrupted', ledger);
    const p = r.properties[0]!;
    expect(p.counterexample).toBeNull();
    expect(p.counts.disagreements).toBe(0);
    expect(p.counts.targetErrors).toBe(0);
    expect(readFileSync(join(rep, 'junit.xml'), 'utf8')).toMatch(/errors="0"/);
    expect(existsSync(join(rep, 'counterexample-1.json'))).toBe(false);
  });

  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig} mid-shrink: exit ${code}, the smallest counterexample so far, which replays as a disagreement`, async () => {
      // A first run (no signal) says how many resets the search takes; the second is signalled a
      // few shrink steps later.
      const probe = newRep();
      const l0: Ledger = { made: 0, closed: 0 };
      let resets = 0;
      const counting = factory(l0, { defect: true, hook: (k) => void (k === 'reset' && resets++) });
      expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '300', '--seed', '5', '--report', probe], io(), counting)).toBe(1);
      const full = report(probe).properties[0]!;
      expect(full.shrink.traces).toBeGreaterThan(3);
      const searchResets = full.counts.traces * 2; // reference and target reset per trace
      void resets;

      const rep = newRep();
      const ledger: Ledger = { made: 0, closed: 0 };
      const hooks = factory(ledger, { defect: true, hook: (k, n) => {
        if (k === 'reset' && n === searchResets + 6) process.emit(sig, sig); // the 3rd shrink candidate
      } });
      const x = io();
      expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '300', '--seed', '5', '--report', rep], x, hooks)).toBe(code);
      const r = expectFinal(rep, 'interrupted', ledger);
      const cx = r.properties[0]!.counterexample!;
      expect(cx).not.toBeNull();
      expect(cx.final).toBe(false);
      expect(cx.differences.every((d) => d.kind !== 'target-error')).toBe(true);
      expect(r.properties[0]!.counts.targetErrors).toBe(0);
      // It happened: replaying the file on the same (defective) target disagrees again.
      const again: Ledger = { made: 0, closed: 0 };
      const y = io();
      expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--replay', join(rep, 'counterexample-1.json')], y, factory(again, { defect: true }))).toBe(1);
    });
  }

  it('a second signal finishes every open report as interrupted (the forced exit path)', () => {
    const rep = newRep();
    const w = new ReportWriter(rep);
    finishLiveWriters('interrupted', 'stopped at once by a second SIGINT');
    expect(report(rep).status).toBe('interrupted');
    expect(existsSync(join(rep, 'report.lock'))).toBe(false);
    w.finish(); // no-op afterwards
    expect(report(rep).status).toBe('interrupted');
  });
});

describe('a target that dies', () => {
  it('once (then fresh instances agree): exit 3, report error naming the packet, no counterexample file', async () => {
    const rep = newRep();
    const ledger: Ledger = { made: 0, closed: 0 };
    const hooks = factory(ledger, { hook: (k, n, instance) => {
      if (k === 'send' && n === 40 && instance === 1) throw new CtoffloadError('CTO_OVS_EXIT', 'ovs-vswitchd exited (SIGKILL)');
    } });
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '200', '--seed', '3', '--report', rep], x, hooks)).toBe(3);
    const r = expectFinal(rep, 'error', ledger);
    const p = r.properties[0]!;
    expect(p.counterexample).toBeNull();
    expect(p.error).toMatch(/agreed when run again on fresh targets/);
    expect(p.error).toMatch(/packet \d+/);
    expect(p.error).toContain('ovs-vswitchd exited (SIGKILL)');
    expect(readdirSync(rep).filter((n) => n.startsWith('counterexample-'))).toEqual([]);
    expect(x.o).toContain('ERROR');
  });

  it('every time at the same packet: a target-failure counterexample, exit 3 (not 1)', async () => {
    const rep = newRep();
    const ledger: Ledger = { made: 0, closed: 0 };
    // Every instance of the target dies on the 3rd packet after a reset: reproducible.
    const per = new Map<number, number>();
    const hooks = factory(ledger, { hook: (k, _n, instance) => {
      if (k === 'reset') per.set(instance, 0);
      if (k === 'send') {
        const c = (per.get(instance) ?? 0) + 1;
        per.set(instance, c);
        if (c === 3) throw new CtoffloadError('CTO_OVS_EXIT', 'ovs-vswitchd exited (SIGSEGV)');
      }
    } });
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '20', '--seed', '3', '--report', rep], x, hooks)).toBe(3);
    const r = expectFinal(rep, 'failed', ledger);
    const cx = r.properties[0]!.counterexample!;
    expect(cx.differences.map((d) => d.kind)).toEqual(['target-error']);
    expect(cx.failingStep).toBe(2);
    expect(readFileSync(join(rep, 'junit.xml'), 'utf8')).toMatch(/errors="1"/);
  });
});

describe('a target failure followed by a signal', () => {
  it('is not kept as a counterexample when it could not be re-run (exit 130, said in the report)', async () => {
    const rep = newRep();
    const ledger: Ledger = { made: 0, closed: 0 };
    let died = false;
    const hooks = factory(ledger, { hook: (k, n, instance) => {
      if (k === 'send' && n === 40 && instance === 1) {
        died = true;
        throw new CtoffloadError('CTO_OVS_EXIT', 'ovs-vswitchd exited (SIGKILL)');
      }
      if (k === 'create' && died) process.emit('SIGINT', 'SIGINT'); // while the replacement starts
    } });
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '200', '--seed', '3', '--report', rep], x, hooks)).toBe(130);
    const r = expectFinal(rep, 'interrupted', ledger);
    expect(r.properties[0]!.counterexample).toBeNull();
    expect(r.properties[0]!.error).toMatch(/interrupted before trace \d+ could be re-run; it had failed at packet \d+/);
    expect(readdirSync(rep).filter((n) => n.startsWith('counterexample-'))).toEqual([]);
  });
});

describe('report paths', () => {
  it('onto a file: exit 2, the path and the errno in words, no stack', async () => {
    const f = join(dir, 'a-file');
    writeFileSync(f, 'x');
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '2', '--report', join(f, 'out')], x, factory({ made: 0, closed: 0 }))).toBe(2);
    expect(x.e).toBe(`ctoffload conformance: --report ${join(f, 'out')}: cannot create the report directory: ENOTDIR (not a directory)\n`);
  });

  it('a directory in use by another run: exit 2 naming the holder', async () => {
    const rep = newRep();
    const w = new ReportWriter(rep, { command: 'the other run' });
    try {
      const x = io();
      expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '2', '--report', rep], x, factory({ made: 0, closed: 0 }))).toBe(2);
      expect(x.e).toMatch(/in use by another run \(pid \d+.*the other run\)/);
    } finally {
      w.finish('passed');
    }
  });

  it('a report directory given as a symlink to a directory is used (the user chose it); links inside are not followed', async () => {
    const real = join(dir, 'real-out');
    const link = join(dir, 'link-out');
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'keep');
    mkdirSync(real);
    symlinkSync(real, link);
    symlinkSync(victim, join(real, 'junit.xml'));
    const ledger: Ledger = { made: 0, closed: 0 };
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '3', '--report', link], io(), factory(ledger))).toBe(0);
    expectFinal(real, 'passed', ledger);
    expect(readFileSync(victim, 'utf8')).toBe('keep');
  });
});

describe('extreme times', () => {
  it('traffic timeScale 1e300: exit 2 naming the option and its place in the file', async () => {
    const t = join(dir, 'huge.json');
    writeFileSync(t, '{\n  "flows": {"max": 2},\n  "timeScale": 1e300\n}\n');
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--traffic', t], x, factory({ made: 0, closed: 0 }))).toBe(2);
    expect(x.e).toMatch(new RegExp(`--traffic ${t}:3:3: traffic option timeScale: makes the longest gap .* ms .*at most 2147483647 ms`));
  });

  function scenarioWithStart(start: number): string {
    const sc = generateRuns(scenarioArb({}), 11, 0, 1)[0] as Scenario;
    sc.flows[0]!.start = start;
    const f = join(dir, `scenario-${start}.json`);
    writeFileSync(f, JSON.stringify({ schema: 'ctoffload-counterexample/1', property: 'p', target: 'fake', policy: { source: policyFile }, seed: 11, path: '0', final: true, replay: '', traffic: {}, scenario: sc }));
    return f;
  }

  it('a stored scenario beyond what the target accepts (OVS: 2^31 − 1 ms): exit 2 naming the packet, nothing sent', async () => {
    const f = scenarioWithStart(5e12);
    const rep = newRep();
    const ledger: Ledger = { made: 0, closed: 0 };
    let sends = 0;
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--replay', f, '--report', rep], x, factory(ledger, { maxTimeMs: 2 ** 31 - 1, hook: (k) => void (k === 'send' && sends++) }))).toBe(2);
    expect(x.e).toMatch(/replayed scenario, packet 0 .*: time 5000000\d{6} ms .* is out of range: the fake target accepts whole milliseconds 0\.\.2147483647 ms/);
    expect(sends).toBe(0);
    expectFinal(rep, 'error', ledger);
  });

  it('a stored scenario beyond the model clock (2^52 ms): exit 2', async () => {
    const f = scenarioWithStart(2 ** 53);
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--replay', f], x, factory({ made: 0, closed: 0 }))).toBe(2);
    expect(x.e).toMatch(/is out of range: the trace clock accepts whole milliseconds 0\.\.4503599627370496 ms/);
  });
});

describe('the built CLI with real signals and a real full disk (model target)', () => {
  const built = cliBuilt();
  const policyChild = join(dir, 'child.flows');
  writeFileSync(policyChild, POLICY.text);

  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it.runIf(built)(`${sig} mid-run: exit ${code}, report interrupted`, async () => {
      const rep = newRep();
      const c = startCli(['conformance', '--target', 'model', '--policy', policyChild, '--runs', '10000000', '--report', rep]);
      await waitFor(() => lineCount(join(rep, 'traces.jsonl')) >= 5, 'five traces done', c);
      c.child.kill(sig);
      const r = await c.exited;
      expect(r.code, r.err).toBe(code);
      expect(report(rep).status).toBe('interrupted');
      expect(readdirSync(rep).filter((n) => n.endsWith('.tmp') || n === 'report.lock')).toEqual([]);
    }, 120_000);
  }

  it.runIf(built && process.getuid?.() === 0)('the disk fills up (a 16 KiB tmpfs): exit 3, report error, nothing temporary left', async () => {
    const m = join(dir, 'full');
    mkdirSync(m);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', m], { stdio: 'ignore' });
    } catch {
      process.stderr.write('\n*** faults.test.ts: cannot mount a tmpfs: the CLI disk-full case is covered by writer.test.ts (fs seam) only ***\n');
      return;
    }
    try {
      const rep = join(m, 'out');
      const r = await startCli(['conformance', '--target', 'model', '--policy', policyChild, '--runs', '100000', '--report', rep]).exited;
      expect(r.code, r.err).toBe(3);
      expect(r.err).toMatch(new RegExp(`--report ${rep}: cannot (write|append to) .*: ENOSPC \\(no space left on device\\)`));
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(report(rep).status).toBe('error');
      expect(readdirSync(rep).filter((n) => n.endsWith('.tmp') || n === 'report.lock')).toEqual([]);
    } finally {
      execFileSync('umount', [m], { stdio: 'ignore' });
    }
  }, 120_000);
});
