/**
 * `ctoffload controller` without a switch: --help, bad arguments and inputs (exit 2 with the
 * option or the file:line named, no stack trace), and `status --metrics-url` parsing. The
 * unreachable-switch case (exit 3 after --connect-timeout) needs p4c to build the program.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../harness/cli/main.js';
import { parseControllerArgs, parseHostPort } from '../../../harness/cli/controller.js';
import { parseControllerMetrics, runStatus } from '../../../harness/cli/status.js';
import { describeWithTools, P4C_TOOL } from '../../support/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-cli-controller-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const POLICY = join(dir, 'fw.flows');
writeFileSync(
  POLICY,
  `table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`,
);

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

/** A port nothing listens on (bound then closed). */
function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('ctoffload controller: arguments', () => {
  it('--help lists the options and the exit codes', async () => {
    const r = await run(['controller', '--help']);
    expect(r.code).toBe(0);
    for (const s of ['--policy FILE', '--p4runtime HOST:PORT', '--election-id HI,LO', '--poll-interval MS', '--on-exit keep|flush', '--metrics HOST:PORT', '--log-level', '--watch', 'SIGHUP', 'Exit status: 0 ', '127.0.0.1']) expect(r.out).toContain(s);
  });

  it.each([
    [[], /--policy FILE is required/],
    [['--policy', 'x.flows'], /--p4runtime HOST:PORT is required/],
    [['--policy', 'x', '--p4runtime', 'localhost'], /--p4runtime: "localhost" is not HOST:PORT/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:70000'], /--p4runtime: port 70000 is out of range/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:1', '--device-id', '0'], /--device-id: 0 is out of range/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:1', '--election-id', '1,2,3'], /--election-id: "1,2,3" is not HI,LO/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:1', '--election-id', '1,x'], /--election-id \(LO\): "x" is not a non-negative integer/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:1', '--on-exit', 'delete'], /--on-exit: "delete" is not one of keep, flush/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:1', '--poll-interval', '-5'], /--poll-interval/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:1', '--metrics', '9464'], /--metrics: "9464" is not HOST:PORT/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:1', '--log-level', 'loud'], /--log-level: "loud" is not one of/],
    [['--policy', 'x', '--p4runtime', '127.0.0.1:1', '--bogus'], /Unknown option '--bogus'/],
  ])('%j → exit 2 naming the option', async (args, msg) => {
    const r = await run(['controller', ...(args as string[])]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('parses HI,LO, a single election id, [v6]:port and defaults', () => {
    const a = parseControllerArgs(['--policy', 'p', '--p4runtime', '[::1]:9559', '--election-id', '7']);
    expect(a).toMatchObject({ electionId: { high: 0n, low: 7n }, deviceId: 1n, pollIntervalMs: 1000, onExit: 'keep', pipeline: 'auto', logLevel: 'info', connectTimeoutMs: 30_000 });
    expect(parseControllerArgs(['--policy', 'p', '--p4runtime', 'h:1', '--election-id', '2,3'])).toMatchObject({ electionId: { high: 2n, low: 3n } });
    expect(parseControllerArgs(['--policy', 'p', '--p4runtime', 'h:1'])).toMatchObject({ electionId: { high: 1n, low: 0n }, watch: false });
    expect(parseControllerArgs(['--policy', 'p', '--p4runtime', 'h:1', '--watch'])).toMatchObject({ watch: true });
    expect(parseHostPort('--metrics', '127.0.0.1:0', 0)).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseHostPort('--p4runtime', '[::1]:9559')).toEqual({ host: '::1', port: 9559 });
  });

  it('an unreadable policy, a policy syntax error (file:line:col) and a bad config key → exit 2, located', async () => {
    const p = await deadPort();
    let r = await run(['controller', '--policy', join(dir, 'missing.flows'), '--p4runtime', `127.0.0.1:${p}`]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--policy .*missing\.flows: cannot read: ENOENT/);
    const bad = join(dir, 'bad.flows');
    writeFileSync(bad, 'table=0,priority=10,ip,actions=ct(table=1,zone=5)\ntable=0,priority=0,actions=frobnicate\n');
    r = await run(['controller', '--policy', bad, '--p4runtime', `127.0.0.1:${p}`]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.flows:2:\d+/);
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, '{"tableSize": 5}');
    r = await run(['controller', '--policy', POLICY, '--config', cfg, '--p4runtime', `127.0.0.1:${p}`]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cfg\.json: tableSize: unknown key/);
    r = await run(['controller', '--policy', POLICY, '--artifacts', join(dir, 'nothing'), '--p4runtime', `127.0.0.1:${p}`]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--artifacts .*ctoffload\.manifest\.json: cannot read: ENOENT/);
    for (const x of [r.err]) expect(x).not.toMatch(/\n\s+at /);
  });
});

describeWithTools('ctoffload controller: unreachable switch', [P4C_TOOL], () => {
  it('exits 3 after --connect-timeout with a message naming the address', async () => {
    const p = await deadPort();
    const t0 = performance.now();
    const r = await run(['controller', '--policy', POLICY, '--p4runtime', `127.0.0.1:${p}`, '--connect-timeout', '1500', '--log-level', 'warn']);
    const took = performance.now() - t0;
    expect(r.code).toBe(3);
    expect(r.err).toMatch(new RegExp(`no usable P4Runtime session with 127\\.0\\.0\\.1:${p} within 1500 ms`));
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(took).toBeGreaterThanOrEqual(1400); // it tried until the deadline
  }, 120_000);
});

describe('ctoffload status --metrics-url', () => {
  it('parses the ctoffload_controller_ family of a scrape', () => {
    const m = parseControllerMetrics(
      [
        '# HELP ctoffload_controller_packet_ins_total PacketIns received.',
        '# TYPE ctoffload_controller_packet_ins_total counter',
        'ctoffload_controller_packet_ins_total 12',
        'ctoffload_controller_punts_total{reason="CT_MISS"} 3',
        'ctoffload_controller_punts_total{reason="TCP_FLAGS"} 4',
        'ctoffload_controller_info{address="127.0.0.1:1",device_id="1"} 1',
        'process_cpu_seconds_total 0.5',
      ].join('\n'),
    );
    expect(m).toEqual({ packet_ins_total: 12, punts_total: { CT_MISS: 3, TCP_FLAGS: 4 }, info: { 'address=127.0.0.1:1,device_id=1': 1 } });
  });

  it('exits 3 when nothing answers at the URL', async () => {
    const p = await deadPort();
    let err = '';
    const code = await runStatus(['--metrics-url', `http://127.0.0.1:${p}/metrics`], { out: () => undefined, err: (s) => void (err += s) });
    expect(code).toBe(3);
    expect(err).toMatch(/cannot scrape the controller daemon/);
  });
});
