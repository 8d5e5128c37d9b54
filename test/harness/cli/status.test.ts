/**
 * `ctoffload status`: a capture through bmv2 + controller, counters as JSON; and `replay
 * --target bmv2`, registered by the status module. Signals (issue 12): the command owns
 * SIGINT/SIGTERM (harness/cli/signals.ts), so they end it with 130/143 after closing the switch,
 * never by the switch module's handler re-raising the signal.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { writePcapng } from '../../../model/packet/pcapng.js';
import { runStatus } from '../../../harness/cli/status.js';
import { runReplay } from '../../../harness/cli/replay.js';
import { liveSwitchCount } from '../../../p4/bmv2.js';
import { cliBuilt, processesMentioning, startCli, waitFor } from '../../support/cli-child.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../../support/tools.js';

const TOOLS = [
  BMV2_TOOL,
  P4C_TOOL,
];
const dir = mkdtempSync(join(tmpdir(), 'cto-cli-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const POLICY = join(dir, 'fw.flows');
writeFileSync(
  POLICY,
  `table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`,
);
const q = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 4000, dport: 53 }, payload: 'q' });
const r = buildFrame({ ip: { src: '10.0.0.2', dst: '10.0.0.1' }, udp: { sport: 53, dport: 4000 }, payload: 'r' });
const T = 1_700_000_000_000_000_000n;
const PCAPNG = join(dir, 'udp.pcapng');
writeFileSync(
  PCAPNG,
  writePcapng([
    { timeNs: T, port: 1, data: q, origLen: q.length },
    { timeNs: T + 1_000_000n, port: 2, data: r, origLen: r.length },
    { timeNs: T + 2_000_000n, port: 1, data: q, origLen: q.length },
  ]),
);
const io = () => {
  const x = { out: '', err: '', o: (s: string) => void (x.out += s), e: (s: string) => void (x.err += s) };
  return x;
};

describeWithTools('ctoffload status / replay --target bmv2', TOOLS, () => {
  it('prints the controller counters of a run', async () => {
    const x = io();
    expect(await runStatus(['--policy', POLICY, '--pcap', PCAPNG], { out: x.o, err: x.e })).toBe(0);
    const j = JSON.parse(x.out);
    expect(j.packets).toBe(3);
    expect(j.controller).toMatchObject({ connectionsOffloaded: 1, punts: { CT_MISS: 2 }, writes: { insert: 2 } });
    expect(j.target).toMatchObject({ steps: 3, hardwareOutputs: 1, strayOutputs: 0 });
  }, 60_000);

  it('usage errors exit 2', async () => {
    const x = io();
    expect(await runStatus(['--policy', POLICY], { out: x.o, err: x.e })).toBe(2);
    expect(x.err).toContain('--pcap are required');
  });

  it('replay --target bmv2 prints the bmv2 verdicts', async () => {
    const x = io();
    expect(await runReplay(['--policy', POLICY, '--pcap', PCAPNG, '--target', 'bmv2'], { out: x.o, err: x.e })).toBe(0);
    // a header line, then one line per packet
    expect(x.out.trim().split('\n').filter((l) => /^\s*\d+\s/.test(l))).toHaveLength(3);
  }, 60_000);

  it('a signal before the switch starts: exit 130, no counters, no switch started', async () => {
    const x = io();
    const before = liveSwitchCount();
    expect(await runStatus(['--policy', POLICY, '--pcap', PCAPNG], { out: x.o, err: x.e }, AbortSignal.abort())).toBe(130);
    expect(x.out).toBe('');
    expect(x.err).toMatch(/ctoffload status: interrupted: /);
    expect(x.err).not.toMatch(/\n\s+at /);
    expect(liveSwitchCount()).toBe(before);
  });

  // The built CLI with real signals, sent once its switch is running: 20 000 packets take the
  // switch far longer than the signal takes to arrive, so the run is cut short either still
  // starting or mid-capture — both must end the same way.
  const built = cliBuilt();
  const many = join(dir, 'many.pcapng');
  writeFileSync(many, writePcapng(Array.from({ length: 20_000 }, (_, i) => ({ timeNs: T + BigInt(i) * 1_000_000n, port: i % 2 ? 2 : 1, data: i % 2 ? r : q, origLen: q.length }))));
  let n = 0;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it.runIf(built)(`${sig} with the switch running: exit ${code}, no counters, no switch or switch directory left`, async () => {
      const tmp = join(dir, `sig${++n}`);
      mkdirSync(tmp);
      const c = startCli(['status', '--policy', POLICY, '--pcap', many], { TMPDIR: tmp });
      const switches = (): number[] => processesMentioning(tmp).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('simple_switch_grpc');
        } catch {
          return false;
        }
      });
      await waitFor(() => switches().length > 0, 'the switch is running', c);
      c.child.kill(sig);
      const res = await c.exited;
      expect(res.signal, 'the process ended by exiting, not by the signal').toBeNull();
      expect(res.code, res.err).toBe(code);
      expect(res.out).toBe('');
      expect(res.err).toMatch(new RegExp(`ctoffload status: ${sig === 'SIGINT' ? 'interrupted' : 'terminated'}, finishing the current packet`));
      expect(res.err).not.toMatch(/\n\s+at /);
      await waitFor(() => processesMentioning(tmp).length === 0, `no process in ${tmp}`);
      expect(readdirSync(tmp).filter((d) => d.startsWith('bmv2-')), 'switch directories left').toEqual([]);
    }, 300_000);
  }
});

describe('ctoffload status --metrics-url under a signal', () => {
  it('a signal while the daemon does not answer: exit 130 at once, one line, not a scrape failure (3)', async () => {
    const sockets: import('node:net').Socket[] = [];
    const ac = new AbortController();
    // Accepts and never answers; the signal comes once the scrape is connected.
    const srv = createServer((sock) => {
      sockets.push(sock);
      ac.abort();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as { port: number }).port;
      const x = io();
      expect(await runStatus(['--metrics-url', `http://127.0.0.1:${port}/metrics`], { out: x.o, err: x.e }, ac.signal)).toBe(130);
      expect(x.out).toBe('');
      expect(x.err).toMatch(/^ctoffload status: interrupted: /);
      expect(x.err).not.toContain('cannot scrape');
    } finally {
      for (const s of sockets) s.destroy();
      srv.close();
    }
  });
});
