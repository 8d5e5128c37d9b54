import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { writePcap, writePcapng } from '../../../model/packet/capture.js';
import { main } from '../../../harness/cli/main.js';
import { registerReplayTarget } from '../../../harness/cli/replay.js';
import type { Target } from '../../../harness/targets/target.js';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-replay-'));
const file = (name: string, data: string | Uint8Array): string => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

const POLICY = file(
  'fw.flows',
  `# stateful firewall: port 1 inside, port 2 outside
table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5,exec(set_field:0x2a->ct_mark)),output:2
table=1,priority=10,ip,ct_state=+trk+est,actions=output:1,output:2
table=1,priority=0,actions=drop
`,
);
const ab = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 40000, dport: 80, seq: 100, flags: 'S', win: 1000 } });
const ba = buildFrame({ ip: { src: '10.0.0.2', dst: '10.0.0.1' }, tcp: { sport: 80, dport: 40000, seq: 500, ack: 101, flags: 'SA', win: 1000 } });
const stray = buildFrame({ ip: { src: '10.0.0.9', dst: '10.0.0.1' }, udp: { sport: 1, dport: 2 } });
const T = 1_700_000_000_000_000_000n;
const PCAPNG = file(
  'trace.pcapng',
  writePcapng([
    { timeNs: T, port: 1, data: ab, origLen: ab.length },
    { timeNs: T + 1_000_000n, port: 2, data: ba, origLen: ba.length },
    { timeNs: T + 2_000_000n, port: 2, data: stray, origLen: stray.length },
  ]),
);
const PCAP = file('trace.pcap', writePcap([{ timeNs: T, port: 0, data: ab, origLen: ab.length }]));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe('ctoffload replay (end to end through main)', () => {
  it('prints an aligned line per packet', async () => {
    const r = await run('replay', '--policy', POLICY, '--pcap', PCAPNG);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^#\s+timestamp\s+in_port\s+ct_state/);
    const cols = (l: string): string[] => l.split(/\s+/);
    expect(cols(lines[1]!)).toEqual(['1', '1700000000.000000000', '1', 'new|trk', '5', '0x0', '0x0', '2']);
    expect(cols(lines[2]!)).toEqual(['2', '1700000000.001000000', '2', 'est|rpl|trk', '5', '0x2a', '0x0', '1']);
    expect(cols(lines[3]!)).toEqual(['3', '1700000000.002000000', '2', 'new|trk', '5', '0x0', '0x0', 'drop']);
  });

  it('--json prints JSON Lines with every lookup', async () => {
    const r = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--json');
    expect(r.code).toBe(0);
    const rows = r.out.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatchObject({ index: 2, in_port: 2, ct_state: 'est|rpl|trk', ct_mark: '0x2a', outputs: [{ port: '1' }] });
    expect(rows[1].lookups).toEqual([{ table: 1, ct_state: 'est|rpl|trk', ct_state_bits: 0x2a, ct_zone: 5, ct_mark: '0x2a', ct_label: '0x0' }]);
    // ct() calls are the traced pipeline's detail: only with --trace
    expect(rows[0].ct_calls).toBeUndefined();
    const t = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--json', '--trace');
    const traced = t.out.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(traced[0].ct_calls.map((c: { table: number | null }) => c.table)).toEqual([1, null]);
    expect(traced[0].trace.length).toBeGreaterThan(0);
    expect(traced.map((r: Record<string, unknown>) => ({ ...r, ct_calls: undefined, trace: undefined }))).toEqual(rows.map((r) => ({ ...r, ct_calls: undefined, trace: undefined })));
  });

  it('--in-port overrides the port of a classic pcap; --trace adds the steps', async () => {
    const r = await run('replay', '--policy', POLICY, '--pcap', PCAP, '--in-port', '1', '--trace');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n1\s+1700000000\.000000000\s+1\s+new\|trk/);
    expect(r.out).toMatch(/table 1: line 4/);
    const r0 = await run('replay', '--policy', POLICY, '--pcap', PCAP);
    expect(r0.out).toMatch(/\n1\s+\S+\s+0\s+new\|trk.*drop\n$/);
  });

  it('bad policy: exit 2 with file:line:column, no stack trace', async () => {
    const bad = file('bad.flows', 'ip,actions=ct(table=1)\nip,tp_dst=80,actions=drop\n');
    const r = await run('replay', '--policy', bad, '--pcap', PCAPNG);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(`ctoffload replay: ${bad}:2:4: tp_dst requires a TCP, UDP or SCTP match ("tcp", "udp", "tcp6", … or nw_proto=6/17/132) (OVS rejects the flow: OFPBMC_BAD_PREREQ)\n`);
  });

  it('bad capture and missing files: exit 2 naming the file', async () => {
    const junk = file('junk.pcap', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    const r = await run('replay', '--policy', POLICY, '--pcap', junk);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^ctoffload replay: ${junk}: byte 0: not a pcap or pcapng file`));
    expect(r.err).not.toMatch(/\n\s+at /);
    const m = await run('replay', '--policy', join(dir, 'nope.flows'), '--pcap', PCAPNG);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/nope\.flows: cannot read policy: ENOENT/);
    const m2 = await run('replay', '--policy', POLICY, '--pcap', join(dir, 'nope.pcap'));
    expect(m2.code).toBe(2);
    expect(m2.err).toMatch(/nope\.pcap: cannot read capture: ENOENT/);
  });

  it('bad options: exit 2 with a usage hint', async () => {
    expect((await run('replay', '--pcap', PCAPNG)).code).toBe(2);
    const u = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--bogus');
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/--bogus/);
    const p = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--in-port', 'eth0');
    expect(p.code).toBe(2);
    expect(p.err).toMatch(/--in-port: "eth0" is not a port number/);
  });

  it('unknown targets list the available ones', async () => {
    const x = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--target', 'p4');
    expect(x.code).toBe(2);
    expect(x.err).toMatch(/unknown target \(available: model, ovs, bmv2/);
  });

  it('registered targets are driven packet by packet with the virtual clock', async () => {
    const seen: { time: number; port: number }[] = [];
    let loaded = '';
    let closed = false;
    const fake: Target = {
      name: 'fake',
      load: async (p) => void (loaded = p.text),
      send: async (s) => {
        seen.push({ time: s.time, port: s.port });
        return { outputs: [{ port: 7, bytes: s.frame }], lookups: [{ table: 1, state: 0x21, zone: 0, mark: 0, label: 0n }] };
      },
      reset: async () => {},
      close: async () => void (closed = true),
    };
    registerReplayTarget('fake', async () => fake);
    const r = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--target', 'fake');
    expect(r.code).toBe(0);
    expect(seen).toEqual([{ time: 0, port: 1 }, { time: 1, port: 2 }, { time: 2, port: 2 }]);
    expect(loaded).toMatch(/^table=0,priority=10,ip,actions=ct\(zone=5,table=1\)$/m);
    expect(closed).toBe(true);
    expect(r.out.split('\n')[1]).toMatch(/new\|trk\s+0\s+0x0\s+0x0\s+7$/);
  });
});

describe('ctoffload replay: streaming options', () => {
  const many = file(
    'many.pcapng',
    writePcapng(Array.from({ length: 300 }, (_, i) => ({ timeNs: T + BigInt(i) * 1_000_000n, port: i % 2 ? 2 : 1, data: i % 2 ? ba : ab, origLen: ab.length }))),
  );

  it('--count and --skip select packets by their capture numbers', async () => {
    const r = await run('replay', '--policy', POLICY, '--pcap', many, '--json', '--skip', '10', '--count', '5');
    expect(r.code, r.err).toBe(0);
    expect(r.out.trimEnd().split('\n').map((l) => JSON.parse(l).index)).toEqual([11, 12, 13, 14, 15]);
    const t = await run('replay', '--policy', POLICY, '--pcap', many, '--count', '3');
    expect(t.out.trimEnd().split('\n')).toHaveLength(4);
    const bad = await run('replay', '--policy', POLICY, '--pcap', many, '--count', '5x');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--count: "5x" is not a non-negative integer/);
  });

  it('--summary prints packets by ct_state and zone, connections and rate instead of rows', async () => {
    const r = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--summary');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^packets\s+3$/m);
    expect(r.out).toMatch(/^\s+new\|trk\s+2$/m);
    expect(r.out).toMatch(/^\s+est\|rpl\|trk\s+1$/m);
    expect(r.out).toMatch(/^connections\s+created 1, removed 0, live at end 1$/m);
    expect(r.out).toMatch(/^rate\s+\d+ packets\/s$/m);
    const j = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--summary', '--json');
    expect(JSON.parse(j.out)).toMatchObject({ packets: 3, dropped: 1, ct_state: { 'new|trk': 2, 'est|rpl|trk': 1 }, zones: { '5': 3 }, connections: { created: 1, removed: 0, live: 1 } });
  });

  it('reads a FIFO as it is written', async () => {
    const fifo = join(dir, 'in.fifo');
    execFileSync('mkfifo', [fifo]);
    const w = createWriteStream(fifo);
    w.end(readFileSync(PCAPNG));
    const r = await run('replay', '--policy', POLICY, '--pcap', fifo, '--json');
    expect(r.code, r.err).toBe(0);
    expect(r.out.trimEnd().split('\n')).toHaveLength(3);
  });

  it('writes through an output stream with backpressure (a slow reader gets every row)', async () => {
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        setTimeout(cb, 1);
      },
    });
    let err = '';
    const big = file(
      'big.pcapng',
      writePcapng(Array.from({ length: 5000 }, (_, i) => ({ timeNs: T + BigInt(i) * 1_000_000n, port: 1, data: ab, origLen: ab.length }))),
    );
    const code = await main(['replay', '--policy', POLICY, '--pcap', big, '--json'], { out: () => {}, err: (s) => void (err += s), outStream: slow });
    expect(code, err).toBe(0);
    await new Promise<void>((res) => slow.end(res));
    const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(5000);
    expect(JSON.parse(lines[4999]!).index).toBe(5000);
  });

  it('"-" reads standard input (the built CLI in a child process)', () => {
    const cli = join(process.cwd(), 'dist', 'harness', 'cli', 'main.js');
    if (!existsSync(cli)) {
      console.warn('SKIPPED: dist/ not built (npm test builds it first)');
      return;
    }
    const out = execFileSync(process.execPath, [cli, 'replay', '--policy', POLICY, '--pcap', '-', '--json'], { input: readFileSync(PCAPNG) }).toString();
    expect(out.trimEnd().split('\n').map((l) => JSON.parse(l).ct_state)).toEqual(['new|trk', 'est|rpl|trk', 'new|trk']);
  });

  it('a classic pcap has no ports: other targets want --in-port, named with the file', async () => {
    const fake: Target = { name: 'fake2', load: async () => {}, send: async () => ({ outputs: [], lookups: [] }), reset: async () => {}, close: async () => {} };
    registerReplayTarget('fake2', async () => fake);
    const r = await run('replay', '--policy', POLICY, '--pcap', PCAP, '--target', 'fake2');
    expect(r.code).toBe(2);
    expect(r.err).toBe(`ctoffload replay: ${PCAP}: a classic pcap records no ingress port; give --in-port N for --target fake2\n`);
    expect((await run('replay', '--policy', POLICY, '--pcap', PCAP, '--target', 'fake2', '--in-port', '1')).code).toBe(0);
  });

  it('a packet the target refuses gets the reason on its row; the replay goes on', async () => {
    const fake: Target = {
      name: 'picky',
      load: async () => {},
      send: async (s) => {
        if (s.time === 1) throw Object.assign(new Error('runt frame of 9 bytes: …'), { code: 'CTO_OVS_INJECT' });
        return { outputs: [{ port: 7, bytes: s.frame }], lookups: [] };
      },
      reset: async () => {},
      close: async () => {},
    };
    registerReplayTarget('picky', async () => fake);
    const r = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--target', 'picky', '--json');
    expect(r.code, r.err).toBe(0);
    const rows = r.out.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x: { error?: string }) => x.error)).toEqual([undefined, 'runt frame of 9 bytes: …', undefined]);
    expect(rows[2].outputs).toEqual([{ port: '7' }]);
    const t = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--target', 'picky');
    expect(t.out.split('\n')[2]).toMatch(/-  ! runt frame of 9 bytes: …$/);
  });
});

describe('ctoffload main', () => {
  it('--help lists the subcommands; replay --help shows its options', async () => {
    const h = await run('--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^\s+replay\s+run a capture/m);
    const rh = await run('replay', '--help');
    expect(rh.code).toBe(0);
    expect(rh.out).toMatch(/--in-port N/);
    expect((await run('help', 'replay')).out).toBe(rh.out);
  });
  it('no command or an unknown one: exit 2', async () => {
    expect((await run()).code).toBe(2);
    const u = await run('frobnicate');
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/unknown command 'frobnicate'/);
  });
});

describeWithTools('ctoffload replay --target ovs (real ovs-vswitchd)', [OVS_TOOL], () => {
  it('prints the same ct fields and outputs as the model for every packet', async () => {
    const m = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--json');
    const o = await run('replay', '--policy', POLICY, '--pcap', PCAPNG, '--json', '--target', 'ovs');
    expect(m.code, m.err).toBe(0);
    expect(o.code, o.err).toBe(0);
    const pick = (out: string) =>
      out.trim().split('\n').map((l) => {
        const r = JSON.parse(l) as Record<string, unknown>;
        // OVS reports no ct fields per output (a tx pcap holds bytes only): compare ports.
        const outs = (r.outputs as { port: string }[]).map((x) => x.port);
        return { ct_state: r.ct_state, ct_zone: r.ct_zone, ct_mark: r.ct_mark, outputs: outs };
      });
    const model = pick(m.out);
    expect(model.length).toBe(3);
    expect(model[0]!.ct_state).toBe('new|trk');
    expect(pick(o.out)).toEqual(model);
  }, 60_000);

  it('runts and oversize frames are reported on their rows; jumbo frames are output like the model', async () => {
    const jumbo = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 7, dport: 9 }, payload: new Uint8Array(9000) });
    const huge = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 7, dport: 9 }, payload: new Uint8Array(65100) });
    const runt = ab.slice(0, 9);
    const cap = file(
      'limits.pcapng',
      writePcapng([runt, jumbo, huge, ba].map((data, i) => ({ timeNs: T + BigInt(i) * 1_000_000n, port: 1, data, origLen: data.length }))),
    );
    const o = await run('replay', '--policy', POLICY, '--pcap', cap, '--json', '--target', 'ovs');
    expect(o.code, o.err).toBe(0);
    const rows = o.out.trimEnd().split('\n').map((l) => JSON.parse(l) as { error?: string; outputs: { port: string }[]; ct_state: string | null });
    expect(rows[0]!.error).toMatch(/^runt frame of 9 bytes/);
    expect(rows[2]!.error).toMatch(/^oversize frame of 651\d\d bytes/);
    const m = await run('replay', '--policy', POLICY, '--pcap', cap, '--json');
    const model = m.out.trimEnd().split('\n').map((l) => JSON.parse(l) as { outputs: { port: string }[]; ct_state: string | null });
    // the 9 042-byte frame: over the dummy port's default MTU, output by both at MTU 65535
    expect(rows[1]!.outputs.map((x) => x.port)).toEqual(['2']);
    expect(rows[1]!.outputs).toEqual(model[1]!.outputs.map((x) => ({ port: x.port })));
    expect(rows[3]!.ct_state).toBe(model[3]!.ct_state);
  }, 60_000);
});

// ---- signals: the built CLI in a child process, real SIGINT/SIGTERM --------------------------

const CLI = join(process.cwd(), 'dist', 'harness', 'cli', 'main.js');

/**
 * Writes an endless classic pcap (the firewall's two packets, 1 ms apart) into `w` with
 * backpressure, until `bytes` were accepted by the pipe or the reader went away (EPIPE once the
 * replay stopped reading). Resolves to the bytes written.
 */
async function feedCapture(w: Writable, bytes = Infinity): Promise<number> {
  let gone = false;
  w.on('error', () => void (gone = true));
  w.on('close', () => void (gone = true));
  let sent = 0;
  let n = 0;
  const write = async (b: Uint8Array): Promise<void> => {
    sent += b.length;
    if (w.write(b)) return;
    await new Promise<void>((res) => {
      const done = (): void => {
        w.off('drain', done);
        w.off('error', done);
        w.off('close', done);
        res();
      };
      w.on('drain', done);
      w.on('error', done);
      w.on('close', done);
    });
  };
  await write(writePcap([]));
  while (!gone && sent < bytes) {
    const batch = Array.from({ length: 1000 }, () => {
      const i = n++;
      return { timeNs: T + BigInt(i) * 1_000_000n, port: 0, data: i % 2 ? ba : ab, origLen: ab.length };
    });
    await write(writePcap(batch).subarray(24));
  }
  return sent;
}

interface Child {
  code: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  out: () => string;
  err: () => string;
  /** Resolves once standard output holds a complete first line. */
  firstLine: Promise<void>;
  proc: ReturnType<typeof spawn>;
}

function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  let lineSeen: () => void = () => {};
  const firstLine = new Promise<void>((res) => (lineSeen = res));
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString('utf8');
    if (out.includes('\n')) lineSeen();
  });
  proc.stderr!.on('data', (b: Buffer) => void (err += b.toString('utf8')));
  const code = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.on('close', (c, s) => res({ code: c, signal: s })));
  return { code, out: () => out, err: () => err, firstLine, proc };
}

describe('ctoffload replay to standard output (the built CLI in a child process)', () => {
  it.runIf(existsSync(CLI))('rows written through standard output (chunk memory reused) equal the in-process rows, text and JSON', async () => {
    // Many chunks of rows, varied shapes (new/est/reply, drops and outputs) so the cached row tails are exercised.
    const frames = Array.from({ length: 30_000 }, (_, i) => {
      const k = i % 3;
      return { timeNs: T + BigInt(i) * 1_000_000n, port: k === 1 ? 2 : 1, data: k === 0 ? ab : k === 1 ? ba : stray, origLen: ab.length };
    });
    const cap = file('stdout.pcapng', writePcapng(frames));
    // ct_mark stays 0, so the writer caches row tails (model/replayout.ts), which must not alias reused memory
    const policy = file('commit.flows', 'table=0,ip,actions=ct(commit,table=1)\ntable=1,ip,in_port=1,actions=output:2\ntable=1,priority=0,actions=drop\n');
    for (const json of [false, true]) {
      const args = ['replay', '--policy', policy, '--pcap', cap, ...(json ? ['--json'] : [])];
      // The reference: in process, through a stream that keeps its chunks (fresh memory per chunk).
      const kept: Buffer[] = [];
      const keep = new Writable({ write: (c: Buffer, _e, cb) => void (kept.push(c), cb()) });
      expect(await main(args, { out: () => {}, err: () => {}, outStream: keep })).toBe(0);
      const reference = Buffer.concat(kept).toString('utf8');
      const child = startCli(args);
      child.proc.stdin!.end();
      const { code } = await child.code;
      expect(code, child.err()).toBe(0);
      expect(child.out().length).toBeGreaterThan(1 << 20);
      expect(child.out() === reference).toBe(true);
    }
  });
});

describe('ctoffload replay owns SIGINT/SIGTERM (harness/cli/signals.ts)', () => {
  const built = existsSync(CLI);
  if (!built) console.warn('SKIPPED: replay signal tests need dist/ (npm test builds it first)');

  it.runIf(built)('SIGINT after the first rows: exit 130, every row written is whole, the producer is let go', async () => {
    const c = startCli(['replay', '--policy', POLICY, '--pcap', '-', '--json']);
    const fed = feedCapture(c.proc.stdin!);
    await c.firstLine;
    c.proc.kill('SIGINT');
    const { code, signal } = await c.code;
    await fed;
    expect(signal).toBeNull();
    expect(code, c.err()).toBe(130);
    expect(c.err()).toMatch(/ctoffload replay: interrupted, finishing the current packet/);
    const out = c.out();
    expect(out.endsWith('\n')).toBe(true);
    const rows = out.slice(0, -1).split('\n').map((l) => JSON.parse(l) as { index: number; ct_state: string });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.index)).toEqual(rows.map((_, i) => i + 1));
    expect(rows[0]!.ct_state).toBe('new|trk');
  });

  it.runIf(built)('SIGTERM while the producer is idle: the summary says interrupted, exit 143, no wait for more input', async () => {
    const c = startCli(['replay', '--policy', POLICY, '--pcap', '-', '--summary', '--json']);
    // 4 MB accepted by the pipe: beyond the pipe, the stream buffer and the reader's 1 MB
    // window, so packets have been replayed. Then the producer stays open and silent.
    await feedCapture(c.proc.stdin!, 4 << 20);
    c.proc.kill('SIGTERM');
    const { code, signal } = await c.code;
    c.proc.stdin!.destroy();
    expect(signal).toBeNull();
    expect(code, c.err()).toBe(143);
    const s = JSON.parse(c.out()) as { packets: number; interrupted: string; ct_state: Record<string, number> };
    expect(s.interrupted).toBe('SIGTERM');
    expect(s.packets).toBeGreaterThan(1000);
    // the counts cover exactly the packets replayed before the stop
    expect(Object.values(s.ct_state).reduce((a, b) => a + b, 0)).toBe(s.packets);
  });

  it.runIf(built)('text summary names the signal and the packets done', async () => {
    const c = startCli(['replay', '--policy', POLICY, '--pcap', '-', '--summary']);
    await feedCapture(c.proc.stdin!, 4 << 20);
    c.proc.kill('SIGINT');
    const { code } = await c.code;
    c.proc.stdin!.destroy();
    expect(code, c.err()).toBe(130);
    expect(c.out()).toMatch(/^interrupted\s+by SIGINT after \d+ packets/m);
  });
});

describeWithTools('ctoffload replay --target ovs: SIGTERM (real ovs-vswitchd)', [OVS_TOOL], () => {
  it.runIf(existsSync(CLI))('exit 143 after the first rows; no daemon and no run directory left behind', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'cto-replay-sig-'));
    const c = startCli(['replay', '--policy', POLICY, '--pcap', '-', '--in-port', '1', '--target', 'ovs'], { ...process.env, TMPDIR: tmp });
    const fed = feedCapture(c.proc.stdin!);
    await c.firstLine; // the header
    await new Promise<void>((res) => {
      const check = (): void => {
        if (c.out().split('\n').length > 3) {
          c.proc.stdout!.off('data', check);
          res();
        }
      };
      c.proc.stdout!.on('data', check);
      check();
    });
    c.proc.kill('SIGTERM');
    const { code } = await c.code;
    await fed;
    expect(code, c.err()).toBe(143);
    expect(c.out().endsWith('\n')).toBe(true);
    const rows = c.out().slice(0, -1).split('\n').slice(1);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const [i, r] of rows.entries()) expect(r.split(/\s+/)[0]).toBe(String(i + 1));
    // the target closed: its run directory is gone and no process of it runs
    expect(readdirSync(tmp).filter((f) => f.startsWith('cto-ovs-'))).toEqual([]);
    expect(spawnSync('pgrep', ['-f', tmp]).status).toBe(1);
    rmSync(tmp, { recursive: true, force: true });
  }, 120_000);
});
