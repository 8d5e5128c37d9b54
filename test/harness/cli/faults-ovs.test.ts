/**
 * Fault campaign of issue 12 against the real OVS oracle: the built CLI as a child process
 * (real SIGINT/SIGTERM, a private TMPDIR so its OVS run directories and daemons can be
 * accounted for) at start-up, mid-trace, twice; in process: mid-shrink (a defect injected
 * over OVS's verdicts) and ovs-vswitchd killed mid-run; plus the OVS-specific inputs (extreme
 * capture times, a policy with absurdly many ports). Every case: the documented exit code, a
 * final report, no counterexample that replays as agreement, no run directory or process left.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { CliIo } from '../../../harness/cli/command.js';
import { runConformanceCli } from '../../../harness/cli/conformance.js';
import { driveOwningSignals, ownSignals } from '../../../harness/cli/signals.js';
import { replayTargetStream } from '../../../harness/cli/replay.js';
import { openCapture } from '../../../model/replay.js';
import { reportError } from '../../../harness/cli/command.js';
import { execFileSync } from 'node:child_process';
import { generateRuns } from '../../../harness/runner/index.js';
import { scenarioArb, type Scenario } from '../../../harness/arbitraries/index.js';
import type { ConformanceReport } from '../../../harness/report/index.js';
import { OvsTarget } from '../../../harness/targets/ovs/index.js';
import { writePcapng } from '../../../model/packet/pcapng.js';
import { buildFrame } from '../../../model/packet/build.js';
import { cliBuilt, lineCount, processesMentioning, startCli, waitFor } from '../../support/cli-child.js';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';
import { DefectTarget, estAfterRstBecomesNew, POLICY } from '../runner/fake-target.js';

// Short: OVS unix socket paths must fit 107 bytes.
const dir = mkdtempSync('/tmp/ctf-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'p.flows');
writeFileSync(policyFile, POLICY.text);
let n = 0;
/** A private TMPDIR (OVS run directories go there) and a report directory for one case. */
function caseDirs(): { tmp: string; rep: string } {
  const c = join(dir, `c${++n}`);
  mkdirSync(join(c, 't'), { recursive: true });
  return { tmp: join(c, 't'), rep: join(c, 'r') };
}
const report = (rep: string): ConformanceReport => JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8')) as ConformanceReport;
const runDirs = (tmp: string): string[] => readdirSync(tmp).filter((d) => d.startsWith('cto-ovs-'));

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}

/** Nothing left: no OVS run directory in `tmp`, no process naming it, no temp file or lock. */
async function expectNothingLeft(tmp: string, rep?: string): Promise<void> {
  expect(runDirs(tmp), 'OVS run directories left').toEqual([]);
  // Daemons killed by an exit hook are gone at once; give the kernel a moment to reap them.
  await waitFor(() => processesMentioning(tmp).length === 0, `no process mentioning ${tmp}`);
  if (rep) expect(readdirSync(rep).filter((f) => f.endsWith('.tmp') || f === 'report.lock')).toEqual([]);
}

describeWithTools('fault campaign on the OVS oracle (issue 12)', [OVS_TOOL], () => {
  const built = cliBuilt();
  if (!built) process.stderr.write('\n*** faults-ovs.test.ts: dist/ is not built (npm run build): the child-process cases are skipped ***\n');

  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it.runIf(built)(`${sig} during start-up: exit ${code}, report interrupted, no OVS left`, async () => {
      const { tmp, rep } = caseDirs();
      const c = startCli(['conformance', '--target', 'ovs', '--policy', policyFile, '--runs', '100000', '--report', rep], { TMPDIR: tmp });
      await waitFor(() => runDirs(tmp).length > 0, 'the OVS run directory appears (start-up)', c);
      c.child.kill(sig);
      const r = await c.exited;
      expect(r.code, r.err).toBe(code);
      expect(report(rep).status).toBe('interrupted');
      expect(report(rep).properties.every((p) => p.counterexample === null)).toBe(true);
      expect(r.err).not.toMatch(/\n\s+at /);
      await expectNothingLeft(tmp, rep);
    }, 120_000);

    it.runIf(built)(`${sig} mid-trace: exit ${code}, report interrupted, no counterexample, no OVS left`, async () => {
      const { tmp, rep } = caseDirs();
      const c = startCli(['conformance', '--target', 'ovs', '--policy', policyFile, '--runs', '100000', '--seed', '7', '--report', rep], { TMPDIR: tmp });
      await waitFor(() => lineCount(join(rep, 'traces.jsonl')) >= 3, 'three traces done', c);
      c.child.kill(sig);
      const r = await c.exited;
      expect(r.code, r.err).toBe(code);
      const rp = report(rep);
      expect(rp.status).toBe('interrupted');
      const p = rp.properties[0]!;
      expect(p.counterexample).toBeNull();
      expect(p.counts.targetErrors).toBe(0);
      expect(p.counts.traces).toBeGreaterThanOrEqual(3);
      expect(readFileSync(join(rep, 'junit.xml'), 'utf8')).toMatch(/errors="0"/);
      expect(readdirSync(rep).filter((f) => f.startsWith('counterexample-'))).toEqual([]);
      expect(r.out).toContain('INTERRUPTED');
      expect(r.out).toContain('0 target error(s)');
      await expectNothingLeft(tmp, rep);
    }, 120_000);
  }

  it.runIf(built)('SIGINT twice: stops at once, exit 130, report final, no OVS left (exit hooks)', async () => {
    const { tmp, rep } = caseDirs();
    const c = startCli(['conformance', '--target', 'ovs', '--policy', policyFile, '--runs', '100000', '--report', rep], { TMPDIR: tmp });
    await waitFor(() => lineCount(join(rep, 'traces.jsonl')) >= 1, 'a trace done', c);
    c.child.kill('SIGINT');
    await waitFor(() => c.err().includes('interrupted, finishing the current packet'), 'the first signal is taken', c);
    c.child.kill('SIGINT');
    const r = await c.exited;
    expect(r.code, r.err).toBe(130);
    expect(report(rep).status).toBe('interrupted');
    await expectNothingLeft(tmp, rep);
  }, 120_000);

  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig} mid-shrink (a defect injected over OVS): exit ${code}, the counterexample so far replays as a disagreement on OVS`, async () => {
      const { tmp, rep } = caseDirs();
      const prevTmp = process.env.TMPDIR;
      process.env.TMPDIR = tmp; // the OVS run directories go there
      let resets = 0;
      let signalled = false;
      const hooks = {
        progress: false,
        targetFactory: async (name: string) => (name === 'ovsdefect' ? async () => {
          const inner = await OvsTarget.create();
          const t = new DefectTarget(inner, estAfterRstBecomesNew, 'ovsdefect');
          const reset = t.reset.bind(t);
          t.reset = async () => {
            // Once the first counterexample is on disk, the next resets are shrink candidates.
            if (!signalled && existsSync(join(rep, 'counterexample-1.json')) && ++resets === 3) {
              signalled = true;
              process.emit(sig, sig);
            }
            return reset();
          };
          return t;
        } : null),
      };
      try {
        const x = io();
        const got = await runConformanceCli(['--target', 'ovsdefect', '--policy', policyFile, '--runs', '300', '--seed', '5', '--report', rep], x, hooks);
        expect(got, x.e).toBe(code);
        expect(signalled).toBe(true);
        const rp = report(rep);
        expect(rp.status).toBe('interrupted');
        const cx = rp.properties[0]!.counterexample!;
        expect(cx.final).toBe(false);
        expect(cx.differences.every((d) => d.kind !== 'target-error')).toBe(true);
        expect(rp.properties[0]!.counts.targetErrors).toBe(0);
        await expectNothingLeft(tmp, rep);
        const again = { progress: false, targetFactory: async (name: string) => (name === 'ovsdefect' ? async () => new DefectTarget(await OvsTarget.create(), estAfterRstBecomesNew, 'ovsdefect') : null) };
        expect(await runConformanceCli(['--target', 'ovsdefect', '--policy', policyFile, '--replay', join(rep, 'counterexample-1.json')], io(), again)).toBe(1);
        await expectNothingLeft(tmp, rep);
      } finally {
        if (prevTmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = prevTmp;
      }
    }, 300_000);
  }

  it('while a command owns the signals, the OVS module neither stops its daemons nor ends the process', async () => {
    const { tmp } = caseDirs();
    const prevTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    const x = io();
    const scope = ownSignals('test', x); // the real process handlers, as a command installs them
    let t: OvsTarget | undefined;
    try {
      t = await OvsTarget.create();
      await t.load(POLICY);
      const pids = t.instance.pids();
      // Through every process listener: the command's owner and harness/targets/ovs/process.ts's.
      process.emit('SIGTERM', 'SIGTERM');
      expect(scope.received()).toBe('SIGTERM');
      expect(scope.exitCode()).toBe(143);
      expect(x.e).toContain('ctoffload test: terminated, finishing the current packet');
      // The daemons are still there and still answer: the packet in flight would finish.
      for (const pid of pids) expect(() => process.kill(pid, 0), `daemon ${pid} alive`).not.toThrow();
      const frame = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
      const v = await t.send({ time: 0, port: 1, frame });
      expect(v.outputs.map((o) => o.port)).toEqual([2]);
    } finally {
      scope.release();
      await t?.close();
      if (prevTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = prevTmp;
    }
    // The command's close path cleans up, as it does after every signal.
    await expectNothingLeft(tmp);
  }, 120_000);

  it('the replay hook (driveOwningSignals) over OVS: SIGTERM at packet 5 of 40: no 6th packet, exit 143, no OVS left', async () => {
    const { tmp } = caseDirs();
    const prevTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    const frame = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
    const records = Array.from({ length: 40 }, (_, i) => ({ timeNs: 1_000_000_000n + BigInt(i) * 1_000_000n, port: 1, data: frame, origLen: frame.length }));
    const pcap = join(tmp, 'forty.pcapng');
    writeFileSync(pcap, writePcapng(records));
    const reader = await openCapture(pcap);
    let sent = 0;
    const x = io();
    try {
      const e = await driveOwningSignals('replay', x, async () => {
        const t = await OvsTarget.create();
        await t.load(POLICY);
        const send = t.send.bind(t);
        t.send = async (st) => {
          if (++sent === 5) process.emit('SIGTERM', 'SIGTERM');
          return send(st);
        };
        return t;
      }, (t) => replayTargetStream(t, reader, () => {}, { rows: false })).then(() => null, (err: unknown) => err);
      expect(sent).toBe(5);
      expect(reportError('replay', e, x)).toBe(143);
      expect(x.e).toContain('ctoffload replay: interrupted: stopped before the next packet, target closed');
    } finally {
      await reader.close();
      if (prevTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = prevTmp;
    }
    await expectNothingLeft(tmp);
  }, 120_000);

  it.runIf(built && process.getuid?.() === 0)('the report disk fills up (a 16 KiB tmpfs) under an OVS run: exit 3, report error, no OVS left', async () => {
    const { tmp } = caseDirs();
    const m = join(dir, 'full');
    mkdirSync(m);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', m], { stdio: 'ignore' });
    } catch {
      process.stderr.write('\n*** faults-ovs.test.ts: cannot mount a tmpfs: the disk-full case runs on the model target only (faults.test.ts, writer.test.ts) ***\n');
      return;
    }
    try {
      const rep = join(m, 'out');
      const r = await startCli(['conformance', '--target', 'ovs', '--policy', policyFile, '--runs', '100000', '--report', rep], { TMPDIR: tmp }).exited;
      expect(r.code, r.err).toBe(3);
      expect(r.err).toMatch(/ENOSPC \(no space left on device\)/);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(report(rep).status).toBe('error');
      await expectNothingLeft(tmp, rep);
    } finally {
      execFileSync('umount', [m], { stdio: 'ignore' });
    }
  }, 300_000);

  it.runIf(built)('replay --target ovs: SIGTERM mid-capture ends it as 143 (by the signal today, by exit once replay owns it) with no OVS left', async () => {
    const { tmp } = caseDirs();
    const f = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
    const pcap = join(dir, 'long.pcapng');
    writeFileSync(pcap, writePcapng(Array.from({ length: 20_000 }, (_, i) => ({ timeNs: 1_000_000_000n + BigInt(i) * 1_000_000n, port: 1, data: f, origLen: f.length }))));
    const c = startCli(['replay', '--policy', policyFile, '--pcap', pcap, '--target', 'ovs'], { TMPDIR: tmp });
    // Rows are printed as packets go through OVS: the first rows mean the capture is under way.
    await waitFor(() => c.out().split('\n').filter((l) => /^\d+\s/.test(l)).length >= 1, 'the first packet row', c);
    c.child.kill('SIGTERM');
    const r = await c.exited;
    // What a shell reports either way: 143.
    expect(r.signal === 'SIGTERM' || r.code === 143, `code ${r.code} signal ${r.signal}: ${r.err}`).toBe(true);
    expect(r.err).not.toMatch(/\n\s+at /);
    await expectNothingLeft(tmp);
  }, 120_000);

  it.runIf(built)('a stored scenario beyond what OVS accepts (2^31 − 1 ms): exit 2 naming the packet, no OVS left', async () => {
    const { tmp, rep } = caseDirs();
    const sc = generateRuns(scenarioArb({}), 11, 0, 1)[0] as Scenario;
    sc.flows[0]!.start = 5e12;
    const f = join(dir, 'far-scenario.json');
    writeFileSync(f, JSON.stringify({ schema: 'ctoffload-counterexample/1', property: 'p', target: 'ovs', policy: { source: policyFile }, seed: 11, path: '0', final: true, replay: '', traffic: {}, scenario: sc }));
    const r = await startCli(['conformance', '--target', 'ovs', '--policy', policyFile, '--replay', f, '--report', rep], { TMPDIR: tmp }).exited;
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/packet 0 .*: time 5000000\d{6} ms .* is out of range: the ovs target accepts whole milliseconds 0\.\.2147483647 ms/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(report(rep).status).toBe('error');
    await expectNothingLeft(tmp, rep);
  }, 120_000);

  it('ovs-vswitchd killed mid-run: exit 3, report error naming the packet, no counterexample, no OVS left', async () => {
    const { tmp, rep } = caseDirs();
    const prevTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    let made = 0;
    let sends = 0;
    const hooks = {
      progress: false,
      targetFactory: async (name: string) => (name === 'ovskill' ? async () => {
        const t = await OvsTarget.create();
        const first = ++made === 1;
        const send = t.send.bind(t);
        t.send = async (st) => {
          if (first && ++sends === 40) {
            const vswitchd = t.instance.pids()[1]!;
            process.kill(vswitchd, 'SIGKILL');
          }
          return send(st);
        };
        return t;
      } : null),
    };
    try {
      const x = io();
      const code = await runConformanceCli(['--target', 'ovskill', '--policy', policyFile, '--runs', '60', '--seed', '3', '--report', rep], x, hooks);
      expect(code, x.e + x.o).toBe(3);
      const rp = report(rep);
      expect(rp.status).toBe('error');
      const p = rp.properties[0]!;
      expect(p.counterexample).toBeNull();
      expect(p.error).toMatch(/packet \d+/);
      expect(p.error).toMatch(/agreed when run again on fresh targets/);
      expect(readdirSync(rep).filter((f) => f.startsWith('counterexample-'))).toEqual([]);
      expect(made).toBeGreaterThan(1);
      await expectNothingLeft(tmp, rep);
    } finally {
      if (prevTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = prevTmp;
    }
  }, 300_000);

  it.runIf(built)('replay --target ovs of a capture with an extreme timestamp: exit 2 naming the packet, OVS never started', async () => {
    const { tmp } = caseDirs();
    const f = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
    const pcap = join(dir, 'far.pcapng');
    writeFileSync(pcap, writePcapng([
      { timeNs: 1_000_000_000n, port: 1, data: f, origLen: f.length },
      { timeNs: 18_000_000_000_000_000_000n, port: 1, data: f, origLen: f.length }, // ~570 years later
    ]));
    const c = startCli(['replay', '--policy', policyFile, '--pcap', pcap, '--target', 'ovs'], { TMPDIR: tmp });
    const r = await c.exited;
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/far\.pcapng packet 2 .*time 17999999999000 ms \(570 years\) is out of range: --target ovs accepts whole milliseconds 0\.\.2147483647 ms/);
    expect(runDirs(tmp)).toEqual([]);
  }, 60_000);

  it.runIf(built)('a policy with 60 000 output ports: exit 2 at the line, no E2BIG, a short message', async () => {
    const { tmp, rep } = caseDirs();
    const big = join(dir, 'ports.flows');
    const lines = ['table=0,priority=10,ip,actions=ct(table=1,zone=5)', 'table=0,priority=0,actions=drop'];
    for (let p = 1; p <= 60_000; p += 1000) lines.push(`table=1,priority=${p},ip,in_port=${p},actions=${Array.from({ length: 1000 }, (_, k) => `output:${Math.min(65279, p + k + 1)}`).join(',')}`);
    writeFileSync(big, lines.join('\n') + '\n');
    const c = startCli(['conformance', '--target', 'ovs', '--policy', big, '--runs', '5', '--report', rep], { TMPDIR: tmp });
    const r = await c.exited;
    expect(r.code, r.err.slice(0, 2000)).toBe(2);
    expect(r.err).toMatch(/ports\.flows:4:\d+: port \d+ is the policy's 1025th distinct port/);
    expect(r.err.length).toBeLessThan(4000);
    expect(r.err).not.toContain('E2BIG');
    expect(report(rep).status).toBe('error');
    await expectNothingLeft(tmp, rep);
  }, 120_000);
});
