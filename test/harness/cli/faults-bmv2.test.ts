/**
 * Fault campaign of issue 12 on the bmv2 target (simple_switch_grpc + p4c), when installed: the
 * built CLI as a child process with a private TMPDIR (the switch's directory and working
 * directory go there), SIGINT/SIGTERM at start-up and mid-trace, and the switch killed mid-run;
 * in process: SIGINT/SIGTERM mid-shrink (a selftest defect, harness/selftest/faults.ts, wrapped
 * around the bmv2 target from outside, so the run disagrees and shrinks).
 * Every case: the documented exit code, a final report, no counterexample that did not happen,
 * no switch or switch directory left.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { CliIo } from '../../../harness/cli/command.js';
import { runConformanceCli, type ConformanceCliHooks } from '../../../harness/cli/conformance.js';
import { ownSignals } from '../../../harness/cli/signals.js';
import { generateRuns } from '../../../harness/runner/index.js';
import { scenarioArb, type Scenario } from '../../../harness/arbitraries/index.js';
import { buildFrame } from '../../../model/packet/build.js';
import { writePcapng } from '../../../model/packet/pcapng.js';
import { liveSwitchCount } from '../../../p4/bmv2.js';
import type { ConformanceReport } from '../../../harness/report/index.js';
import { faultDecorators } from '../../../harness/selftest/faults.js';
import { SELFTEST_POLICY, SELFTEST_TRAFFIC } from '../../../harness/selftest/run.js';
import { bmv2Run, createBmv2Target, type Bmv2Target } from '../../../harness/targets/bmv2/index.js';
import { cliBuilt, lineCount, processesMentioning, startCli, waitFor } from '../../support/cli-child.js';
import { BMV2_TOOL, describeWithTools, P4C_TOOL } from '../../support/tools.js';
import { POLICY } from '../runner/fake-target.js';

const dir = mkdtempSync('/tmp/ctb-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'p.flows');
writeFileSync(policyFile, POLICY.text);
let n = 0;
function caseDirs(): { tmp: string; rep: string } {
  const c = join(dir, `c${++n}`);
  mkdirSync(join(c, 't'), { recursive: true });
  return { tmp: join(c, 't'), rep: join(c, 'r') };
}
const report = (rep: string): ConformanceReport => JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8')) as ConformanceReport;
const switchDirs = (tmp: string): string[] => readdirSync(tmp).filter((d) => d.startsWith('bmv2-'));

/**
 * No process and no switch directory left — except `kept`: the directories of switches this
 * test killed, which p4/bmv2.ts keeps after an unexpected death for the post-mortem (its log).
 */
async function expectNothingLeft(tmp: string, rep: string, kept: string[] = []): Promise<void> {
  await waitFor(() => processesMentioning(tmp).length === 0, `no process in ${tmp}`);
  const left = switchDirs(tmp).filter((d) => !kept.includes(join(tmp, d)));
  expect(left, 'switch directories left').toEqual([]);
  expect(readdirSync(rep).filter((f) => f.endsWith('.tmp') || f === 'report.lock')).toEqual([]);
}

describeWithTools('fault campaign on the bmv2 target (issue 12)', [BMV2_TOOL, P4C_TOOL], () => {
  const built = cliBuilt();
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it.runIf(built)(`${sig} during start-up: exit ${code}, report interrupted, no switch left`, async () => {
      const { tmp, rep } = caseDirs();
      const c = startCli(['conformance', '--target', 'bmv2', '--policy', policyFile, '--runs', '100000', '--report', rep], { TMPDIR: tmp });
      await waitFor(() => readdirSync(tmp).length > 0, 'start-up began (a temporary directory appears)', c);
      c.child.kill(sig);
      const r = await c.exited;
      expect(r.code, r.err).toBe(code);
      expect(report(rep).status).toBe('interrupted');
      expect(report(rep).properties.every((p) => p.counterexample === null)).toBe(true);
      await expectNothingLeft(tmp, rep);
    }, 300_000);

    it.runIf(built)(`${sig} mid-trace: exit ${code}, no counterexample, no switch left`, async () => {
      const { tmp, rep } = caseDirs();
      const c = startCli(['conformance', '--target', 'bmv2', '--policy', policyFile, '--runs', '100000', '--seed', '7', '--report', rep], { TMPDIR: tmp });
      await waitFor(() => lineCount(join(rep, 'traces.jsonl')) >= 2, 'two traces done', c);
      c.child.kill(sig);
      const r = await c.exited;
      expect(r.code, r.err).toBe(code);
      const p = report(rep).properties[0]!;
      expect(report(rep).status).toBe('interrupted');
      expect(p.counterexample).toBeNull();
      expect(p.counts.targetErrors).toBe(0);
      await expectNothingLeft(tmp, rep);
    }, 300_000);
  }

  it.runIf(built)('SIGINT twice: stops at once, exit 130, report final, no switch or switch directory left (exit hooks)', async () => {
    const { tmp, rep } = caseDirs();
    const c = startCli(['conformance', '--target', 'bmv2', '--policy', policyFile, '--runs', '100000', '--seed', '7', '--report', rep], { TMPDIR: tmp });
    await waitFor(() => lineCount(join(rep, 'traces.jsonl')) >= 1, 'a trace done', c);
    c.child.kill('SIGINT');
    await waitFor(() => c.err().includes('interrupted, finishing the current packet'), 'the first signal is taken', c);
    c.child.kill('SIGINT');
    const r = await c.exited;
    expect(r.code, r.err).toBe(130);
    expect(report(rep).status).toBe('interrupted');
    expect(report(rep).properties[0]!.counterexample).toBeNull();
    await expectNothingLeft(tmp, rep);
  }, 300_000);

  it.runIf(built)('selftest: SIGTERM while a variant runs: exit 143, the results so far printed, no switch or switch directory left', async () => {
    const { tmp } = caseDirs();
    const c = startCli(['selftest', '--variant', 'noReplyEntry', '--no-baseline', '--runs', '100000', '--seed', '3'], { TMPDIR: tmp });
    await waitFor(() => switchDirs(tmp).length > 0 && c.err().includes('selftest: noReplyEntry'), 'the variant\'s switch is starting', c);
    c.child.kill('SIGTERM');
    const r = await c.exited;
    expect(r.signal, 'ended by exiting, not by the signal').toBeNull();
    expect(r.code, r.err).toBe(143);
    expect(r.err).toContain('ctoffload selftest: terminated, finishing the current packet');
    expect(r.err).not.toMatch(/\n\s+at /);
    // The stopped variant is shown as not completed, never as caught or missed.
    expect(r.out).toMatch(/noReplyEntry\s+ERROR/);
    await waitFor(() => processesMentioning(tmp).length === 0, `no process in ${tmp}`);
    expect(switchDirs(tmp), 'switch directories left').toEqual([]);
  }, 300_000);

  it('while a command owns the signals, the bmv2 module neither stops its switch nor ends the process', async () => {
    const { tmp, rep } = caseDirs();
    mkdirSync(rep);
    const prevTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    const x = { o: '', e: '', out: (t: string) => void (x.o += t), err: (t: string) => void (x.e += t) };
    const scope = ownSignals('test', x); // the real process handlers, as a command installs them
    let t: Bmv2Target | undefined;
    try {
      t = await createBmv2Target({ policy: POLICY });
      const before = liveSwitchCount();
      expect(before).toBeGreaterThan(0);
      // Through every process listener: the command's owner and p4/bmv2.ts's.
      process.emit('SIGINT', 'SIGINT');
      expect(scope.received()).toBe('SIGINT');
      expect(x.e).toContain('ctoffload test: interrupted, finishing the current packet');
      // The switch is still there and still answers: the packet in flight would finish.
      expect(liveSwitchCount()).toBe(before);
      const frame = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
      const v = await t.send({ time: 0, port: 1, frame });
      expect(v.outputs.map((o) => o.port)).toEqual([2]);
    } finally {
      scope.release();
      await t?.close();
      if (prevTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = prevTmp;
    }
    await expectNothingLeft(tmp, rep);
  }, 300_000);

  it.runIf(built)('a stored scenario beyond the trace clock (2^53 ms): exit 2 naming the packet, no switch left', async () => {
    const { tmp, rep } = caseDirs();
    const sc = generateRuns(scenarioArb({}), 11, 0, 1)[0] as Scenario;
    sc.flows[0]!.start = 2 ** 53;
    const f = join(dir, 'far-scenario.json');
    writeFileSync(f, JSON.stringify({ schema: 'ctoffload-counterexample/1', property: 'p', target: 'bmv2', policy: { source: policyFile }, seed: 11, path: '0', final: true, replay: '', traffic: {}, scenario: sc }));
    const r = await startCli(['conformance', '--target', 'bmv2', '--policy', policyFile, '--replay', f, '--report', rep], { TMPDIR: tmp }).exited;
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/packet 0 .*is out of range: the trace clock accepts whole milliseconds 0\.\.4503599627370496 ms/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(report(rep).status).toBe('error');
    await expectNothingLeft(tmp, rep);
  }, 300_000);

  it.runIf(built)('a capture spanning 570 years (the longest a pcapng can): bmv2 gives the model\'s verdicts (the connection expired)', async () => {
    const { tmp } = caseDirs();
    const fr = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
    const pcap = join(dir, 'far.pcapng');
    writeFileSync(pcap, writePcapng([
      { timeNs: 1_000_000_000n, port: 1, data: fr, origLen: fr.length },
      { timeNs: 1_000_000_000n + 1_000_000n, port: 1, data: fr, origLen: fr.length },
      { timeNs: 18_000_000_000_000_000_000n, port: 1, data: fr, origLen: fr.length }, // ~570 years later
    ]));
    const rows = (out: string): string[] => out.split('\n').filter((l) => /^\d+\s/.test(l));
    const model = await startCli(['replay', '--policy', policyFile, '--pcap', pcap]).exited;
    const bmv2 = await startCli(['replay', '--policy', policyFile, '--pcap', pcap, '--target', 'bmv2'], { TMPDIR: tmp }).exited;
    expect(model.code, model.err).toBe(0);
    expect(bmv2.code, bmv2.err).toBe(0);
    expect(rows(bmv2.out)).toHaveLength(3);
    expect(rows(bmv2.out)).toEqual(rows(model.out));
    expect(rows(bmv2.out)[2]).toMatch(/new\|trk/);
    await waitFor(() => processesMentioning(tmp).length === 0, `no process in ${tmp}`);
    expect(switchDirs(tmp)).toEqual([]);
  }, 300_000);

  it.runIf(built)('the switch killed mid-run: exit 3 (target failure), no counterexample, no switch left', async () => {
    const { tmp, rep } = caseDirs();
    const c = startCli(['conformance', '--target', 'bmv2', '--policy', policyFile, '--runs', '40', '--seed', '7', '--report', rep], { TMPDIR: tmp });
    await waitFor(() => lineCount(join(rep, 'traces.jsonl')) >= 2, 'two traces done', c);
    const sw = processesMentioning(tmp).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('simple_switch_grpc');
      } catch {
        return false;
      }
    });
    expect(sw.length).toBeGreaterThan(0);
    const killedDirs = sw.map((pid) => readlinkSync(`/proc/${pid}/cwd`));
    for (const pid of sw) process.kill(pid, 'SIGKILL');
    const r = await c.exited;
    const rp = report(rep);
    if (r.code === 0) {
      // The kill landed between two traces: the runner replaced the switch before it was used.
      expect(rp.status).toBe('passed');
    } else {
      expect(r.code, r.err).toBe(3);
      expect(rp.status).toBe('error');
      expect(rp.properties[0]!.counterexample).toBeNull();
    }
    await expectNothingLeft(tmp, rep, killedDirs);
  }, 300_000);

  // The selftest's noReplyEntry defect (reply entries without the reply-direction bit) over the
  // default bmv2 run; its policy and traffic, seed 1: caught within 30 runs (test/harness/selftest.test.ts).
  const defectPolicy = join(dir, 'selftest.flows');
  writeFileSync(defectPolicy, SELFTEST_POLICY.text);
  const defectTraffic = join(dir, 'selftest-traffic.json');
  writeFileSync(defectTraffic, JSON.stringify(SELFTEST_TRAFFIC.noReplyEntry));
  const defectHooks = (extra: Partial<ConformanceCliHooks> = {}): ConformanceCliHooks => ({
    progress: false,
    ...extra,
    targetFactory: async (name: string) => (name === 'bmv2defect' ? bmv2Run({ text: SELFTEST_POLICY.text, source: defectPolicy }, { decorators: faultDecorators('noReplyEntry') }).target : null),
  });
  const defectArgs = ['--target', 'bmv2defect', '--policy', defectPolicy, '--traffic', defectTraffic];

  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig} mid-shrink (seeded defect): exit ${code}, the counterexample so far kept and replaying as a disagreement, no switch left`, async () => {
      const { tmp, rep } = caseDirs();
      const prevTmp = process.env.TMPDIR;
      process.env.TMPDIR = tmp; // the switches' directories go there (os.tmpdir())
      let signalledAt: string | null = null;
      const x: CliIo & { o: string; e: string } = {
        o: '',
        e: '',
        out: (t: string) => void (x.o += t),
        err: (t: string) => {
          x.e += t;
          // The CLI reports it is shrinking (its progress line): the signal goes now, through
          // the real process handlers (the command's owner and p4/bmv2.ts's).
          if (signalledAt === null && t.includes('shrinking:')) {
            signalledAt = t.trim();
            process.emit(sig, sig);
          }
        },
      };
      try {
        const got = await runConformanceCli([...defectArgs, '--runs', '30', '--seed', '1', '--report', rep], x, defectHooks({ progress: true }));
        expect(got, x.e + x.o).toBe(code);
        expect(signalledAt, 'the run reached shrinking').not.toBeNull();
        const rp = report(rep);
        expect(rp.status).toBe('interrupted');
        expect(rp.finishedAt).toBeDefined();
        const p = rp.properties[0]!;
        expect(p.status).toBe('interrupted');
        // Nothing reported that did not happen: no target error, the shrink steps it ran.
        expect(p.counts.targetErrors).toBe(0);
        expect(p.shrink.traces).toBeGreaterThanOrEqual(1);
        const cx = p.counterexample!;
        expect(cx, 'the counterexample found before the signal is kept').not.toBeNull();
        expect(cx.final).toBe(false);
        expect(cx.differences.length).toBeGreaterThan(0);
        expect(cx.differences.every((d) => d.kind !== 'target-error')).toBe(true);
        // Its files are complete (not temporary) and describe the same counterexample.
        const file = JSON.parse(readFileSync(join(rep, `counterexample-${cx.id}.json`), 'utf8')) as { path?: string; final?: boolean };
        expect(file.path).toBe(cx.path);
        expect(file.final).toBe(false);
        expect(existsSync(join(rep, `counterexample-${cx.id}.pcapng`))).toBe(true);
        expect(x.o).toContain('INTERRUPTED');
        await expectNothingLeft(tmp, rep);
        // It happened: replayed on fresh (equally defective) switches it disagrees again.
        const y = { o: '', e: '', out: (t: string) => void (y.o += t), err: (t: string) => void (y.e += t) };
        expect(await runConformanceCli([...defectArgs, '--replay', join(rep, `counterexample-${cx.id}.json`)], y, defectHooks()), y.e + y.o).toBe(1);
        await expectNothingLeft(tmp, rep);
      } finally {
        if (prevTmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = prevTmp;
      }
    }, 300_000);
  }
});
