import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CS_ESTABLISHED, CS_NEW, CS_REPLY_DIR, CS_TRACKED } from '../../model/ctstate.js';
import { buildFrame } from '../../model/packet/build.js';
import { type CaptureRecord, CaptureReader, ChunkSource, writePcapng } from '../../model/packet/capture.js';
import { parsePolicy } from '../../model/pipeline/index.js';
import {
  type ReplayRow,
  type ReplayStats,
  type ReplayStreamOptions,
  RowWriter,
  VirtualClock,
  formatReplayText,
  formatTimestamp,
  replayRecords,
  replayLoop,
  replayRowJson,
  replayStream,
  virtualTimes,
  writeReplayRow,
} from '../../model/replay.js';
import { PORT_CONTROLLER } from '../../model/verdict.js';

const POLICY = `
timeout_policy quick udp_first=2,udp_multiple=2
table=0,priority=10,ip,actions=ct(table=1,zone=3)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=3,timeout=quick,exec(set_field:0x7->ct_mark)),output:2
table=1,priority=10,ip,ct_state=+trk+est,actions=controller,output:1
table=1,priority=0,actions=drop
`;

const T0 = 1_700_000_000_000_000_000n;
const ms = (n: number): bigint => T0 + BigInt(n) * 1_000_000n;
const ab = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 5000, dport: 53 }, payload: 'q' });
const ba = buildFrame({ ip: { src: '10.0.0.2', dst: '10.0.0.1' }, udp: { sport: 53, dport: 5000 }, payload: 'r' });
const arp = buildFrame({ ethType: 0x0806, payload: new Uint8Array(28) });
const rec = (t: bigint, port: number, data: Uint8Array): CaptureRecord => ({ timeNs: t, port, data, origLen: data.length });

describe('replayRecords', () => {
  const records = [rec(ms(0), 1, ab), rec(ms(500), 2, ba), rec(ms(500), 3, arp), rec(ms(3500), 2, ba)];
  const rows = replayRecords(parsePolicy(POLICY, 'p.flows'), records);

  it('one row per packet with index, time, port, last lookup and outputs', () => {
    expect(rows.map((r) => r.index)).toEqual([1, 2, 3, 4]);
    expect(rows.map((r) => r.timeMs)).toEqual([0, 500, 500, 3500]);
    expect(rows.map((r) => r.inPort)).toEqual([1, 2, 3, 2]);
    expect(rows[0]!.ct).toEqual({ state: CS_NEW | CS_TRACKED, zone: 3, mark: 0, label: 0n });
    expect(rows[0]!.outputs.map((o) => o.port)).toEqual([2]);
    expect(rows[1]!.ct).toEqual({ state: CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED, zone: 3, mark: 7, label: 0n });
    expect(rows[1]!.outputs.map((o) => o.port)).toEqual([PORT_CONTROLLER, 1]);
    expect(rows[2]!.ct).toBeNull();
    expect(rows[2]!.outputs).toEqual([]);
    // the connection used the 2 s timeout policy (udp_multiple after the reply at 0.5 s): gone at 3.5 s, so the reply is new again
    expect(rows[3]!.ct!.state).toBe(CS_NEW | CS_TRACKED);
    expect(rows[0]!.ctCalls).toBeUndefined(); // the untraced pipeline
    const traced = replayRecords(parsePolicy(POLICY, 'p.flows'), records, { trace: true });
    expect(traced[0]!.ctCalls!.map((c) => c.table)).toEqual([1, -1]);
    expect(traced.map((r) => ({ ...r, ctCalls: undefined, trace: undefined }))).toEqual(rows.map((r) => ({ ...r, ctCalls: undefined, trace: undefined })));
  });

  it('--in-port overrides the capture port', () => {
    const r = replayRecords(parsePolicy(POLICY), records.slice(0, 1), { inPort: 9 });
    expect(r[0]!.inPort).toBe(9);
    expect(r[0]!.outputs).toEqual([]); // in_port=1 flow no longer matches
  });

  it('text form is aligned with a header; JSON has display ct_state and hex mark/label', () => {
    const lines = formatReplayText(rows);
    expect(lines[0]).toMatch(/^#\s+timestamp\s+in_port\s+ct_state\s+ct_zone\s+ct_mark\s+ct_label\s+outputs$/);
    expect(lines).toHaveLength(5);
    const col = lines[0]!.indexOf('ct_state');
    expect(lines[1]!.slice(col).startsWith('new|trk')).toBe(true);
    expect(lines[2]!.slice(col).startsWith('est|rpl|trk')).toBe(true);
    expect(lines[2]!.endsWith('controller,1')).toBe(true);
    expect(lines[3]!.endsWith('drop')).toBe(true);
    const j = replayRowJson(rows[1]!);
    expect(j).toMatchObject({ index: 2, in_port: 2, ct_state: 'est|rpl|trk', ct_zone: 3, ct_mark: '0x7', ct_label: '0x0', time_ms: 500 });
    expect(j.outputs).toEqual([{ port: 'controller', ct_state: 'est|rpl|trk' }, { port: '1', ct_state: 'est|rpl|trk' }]);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
  });
});

describe('virtual clock', () => {
  it('is relative to the first packet, in whole ms, and never goes backwards', () => {
    const r = [rec(ms(10), 1, ab), rec(ms(10) + 1_999_999n, 1, ab), rec(ms(5), 1, ab), rec(ms(20), 1, ab)];
    expect(virtualTimes(r)).toEqual([0, 1, 1, 10]);
    expect(virtualTimes([])).toEqual([]);
  });
  it('timestamps print as seconds.nanoseconds', () => {
    expect(formatTimestamp(1_700_000_000_000_000_042n)).toBe('1700000000.000000042');
  });
});

describe('replayStream (streaming, untraced fast path)', () => {
  const records = [rec(ms(0), 1, ab), rec(ms(500), 2, ba), rec(ms(500), 3, arp), rec(ms(3500), 2, ba)];
  const image = (rs: CaptureRecord[]): Uint8Array => writePcapng(rs);
  const reader = (rs: CaptureRecord[]): CaptureReader => new CaptureReader(new ChunkSource((async function* () {
    const b = image(rs);
    for (let i = 0; i < b.length; i += 7) yield b.subarray(i, i + 7);
  })()), 'r.pcapng');
  const collect = async (rs: CaptureRecord[], opts: ReplayStreamOptions = {}): Promise<{ text: string; stats: ReplayStats; chunks: number }> => {
    const parts: Uint8Array[] = [];
    const stats = await replayStream(parsePolicy(POLICY, 'p.flows'), reader(rs), (b) => void parts.push(b), opts);
    return { text: Buffer.concat(parts).toString('utf8'), stats, chunks: parts.length };
  };

  it('text rows equal formatReplayText of replayRecords, JSON lines equal replayRowJson', async () => {
    const rows = replayRecords(parsePolicy(POLICY, 'p.flows'), records);
    expect((await collect(records)).text).toBe(formatReplayText(rows).map((l) => `${l}\n`).join('').replace(/ +\n/g, (m) => m));
    const j = (await collect(records, { json: true })).text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(j).toEqual(rows.map(replayRowJson));
    const traced = replayRecords(parsePolicy(POLICY, 'p.flows'), records, { trace: true });
    const jt = (await collect(records, { json: true, trace: true })).text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(jt).toEqual(traced.map(replayRowJson));
    expect((await collect(records, { trace: true })).text).toContain('\n    table 0: line');
  });

  it('replayLoop drives any engine (an async step); a refused packet gets its reason; the signal stops it before the next packet with whole rows', async () => {
    const ac = new AbortController();
    const seen: { port: number; now: number; bytes: number }[] = [];
    const parts: Uint8Array[] = [];
    const stats = await replayLoop(
      reader(records),
      (b) => void parts.push(b),
      async (frame, port, now) => {
        seen.push({ port, now, bytes: frame.length });
        if (seen.length === 2) ac.abort();
        return seen.length === 1 ? 'refused: too short' : { outputs: [], lookups: [{ table: 1, state: CS_TRACKED | CS_NEW, zone: 9, mark: 0, label: 0n }] };
      },
      { json: true, signal: ac.signal },
    );
    expect(seen).toEqual([{ port: 1, now: 0, bytes: ab.length }, { port: 2, now: 500, bytes: ba.length }]);
    expect(stats.stopped).toBe(true);
    expect(stats.packets).toBe(2);
    expect(stats.errors).toBe(1);
    const text = Buffer.concat(parts).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const rows = text.trimEnd().split('\n').map((l) => JSON.parse(l) as { index: number; error?: string; ct_zone: number | null });
    expect(rows.map((r) => [r.index, r.error, r.ct_zone])).toEqual([[1, 'refused: too short', null], [2, undefined, 9]]);
    // an already aborted signal replays nothing
    const none = await replayLoop(reader(records), () => {}, () => ({ outputs: [], lookups: [] }), { signal: AbortSignal.abort() });
    expect([none.packets, none.stopped]).toEqual([0, true]);
  });

  it('a time past the engine\'s range is an input error naming the packet', async () => {
    await expect(replayLoop(reader(records), () => {}, () => ({ outputs: [], lookups: [] }), { maxTimeMs: 1000, engine: '--target slow' })).rejects.toMatchObject({
      code: 'CTO_TIME_RANGE',
      message: expect.stringMatching(/^r\.pcapng packet 4 \(after the first packet\): time 3500 ms .*--target slow accepts whole milliseconds 0\.\.1000 ms/),
    });
  });

  it('--skip leaves packets out (the clock starts at the first replayed one), --count stops', async () => {
    const { text } = await collect(records, { json: true, skip: 1, count: 2 });
    const rows = text.trimEnd().split('\n').map((l) => JSON.parse(l) as { index: number; time_ms: number; ct_state: string });
    expect(rows.map((r) => r.index)).toEqual([2, 3]);
    expect(rows[0]!.time_ms).toBe(0);
    expect(rows[0]!.ct_state).toBe('new|trk'); // the reply is new: its request was skipped
  });

  it('statistics: packets by ct_state and zone, connections created / removed / live', async () => {
    const { text, stats } = await collect(records, { rows: false, countConnections: true });
    expect(text).toBe('');
    expect(stats.packets).toBe(4);
    expect(stats.toJSON()).toMatchObject({ packets: 4, dropped: 2, ct_state: { 'new|trk': 2, 'est|rpl|trk': 1, '-': 1 }, zones: { '3': 3 }, virtual_time_ms: 3500 });
    // committed at 0 with a 2 s policy, refreshed at 0.5 s: gone by 3.5 s (swept), the last reply is not committed
    expect(stats.toJSON().connections).toEqual({ created: 1, removed: 1, live: 0 });
    expect(stats.toText()).toMatch(/^packets\s+4$/m);
  });

  it('many rows: written in several chunks, no stack overflow in the text form', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => rec(ms(i), 1 + (i % 2), i % 2 ? ba : ab));
    const { text, chunks } = await collect(many);
    expect(chunks).toBeGreaterThan(1);
    expect(text.split('\n').length).toBe(20_002);
    const rows = replayRecords(parsePolicy(POLICY, 'p.flows'), many);
    expect(formatReplayText([...rows, ...rows, ...rows, ...rows, ...rows, ...rows, ...rows, ...rows]).length).toBe(160_001);
  });
});

describe('RowWriter: the JSON line is replayRowJson, for any row', () => {
  const fields = fc.record({
    state: fc.integer({ min: 0, max: 0xff }),
    zone: fc.integer({ min: 0, max: 0xffff }),
    mark: fc.integer({ min: 0, max: 0xffffffff }),
    label: fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }),
  });
  it('holds (one writer for every run: cached row shapes included)', () => {
    const wj = new RowWriter(true);
    const wt = new RowWriter(false);
    const small = fc.record({ state: fc.constantFrom(0, 0x21, 0x22, 0x2a), zone: fc.constantFrom(0, 5), mark: fc.constant(0), label: fc.constant(0n) });
    fc.assert(
      fc.property(
        fc.record({
          index: fc.integer({ min: 1, max: 2 ** 40 }),
          inPort: fc.integer({ min: 0, max: 4 }),
          lookups: fc.array(fc.record({ table: fc.constantFrom(1, 2), f: small }), { maxLength: 2 }),
          outputs: fc.array(fc.record({ port: fc.constantFrom(1, 2, 300, PORT_CONTROLLER), ct: fc.option(small, { nil: undefined }) }), { maxLength: 3 }),
        }),
        (g) => {
          const lookups = g.lookups.map((l) => ({ table: l.table, ...l.f }));
          const row: ReplayRow = {
            index: g.index,
            timeNs: 1_700_000_000_000_000_000n,
            timeMs: 0,
            inPort: g.inPort,
            ct: lookups.length ? { ...g.lookups[g.lookups.length - 1]!.f } : null,
            outputs: g.outputs.map((o) => (o.ct ? { port: o.port, ctState: o.ct.state } : { port: o.port })),
            lookups,
          };
          writeReplayRow(wj, row);
          expect(JSON.parse(Buffer.from(wj.take()).toString('utf8'))).toEqual(replayRowJson(row));
          writeReplayRow(wt, row);
          const fresh = new RowWriter(false);
          writeReplayRow(fresh, row);
          expect(Buffer.from(wt.take())).toEqual(Buffer.from(fresh.take()));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('holds for any row', () => {
    fc.assert(
      fc.property(
        fc.record({
          index: fc.integer({ min: 1, max: 2 ** 40 }),
          timeNs: fc.bigInt({ min: 0n, max: 2n ** 63n }),
          timeMs: fc.integer({ min: 0, max: 2 ** 40 }),
          inPort: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(PORT_CONTROLLER)),
          lookups: fc.array(fc.record({ table: fc.integer({ min: 0, max: 254 }), f: fields }), { maxLength: 3 }),
          outputs: fc.array(fc.record({ port: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(PORT_CONTROLLER)), ct: fc.option(fields, { nil: undefined }) }), { maxLength: 3 }),
          calls: fc.option(fc.array(fc.record({ table: fc.integer({ min: -1, max: 254 }), line: fc.nat(1000), depth: fc.nat(6), f: fields }), { maxLength: 2 }), { nil: undefined }),
          trace: fc.option(fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 2 }), { nil: undefined }),
          error: fc.option(fc.string({ unit: 'grapheme' }), { nil: undefined }),
        }),
        (g) => {
          const lookups = g.lookups.map((l) => ({ table: l.table, ...l.f }));
          const row: ReplayRow = {
            index: g.index,
            timeNs: g.timeNs,
            timeMs: g.timeMs,
            inPort: g.inPort,
            ct: lookups.length ? { ...g.lookups[g.lookups.length - 1]!.f } : null,
            outputs: g.outputs.map((o) => (o.ct ? { port: o.port, ctState: o.ct.state } : { port: o.port })),
            lookups,
            ...(g.calls ? { ctCalls: g.calls.map((c) => ({ table: c.table, line: c.line, depth: c.depth, ...c.f })) } : {}),
            ...(g.trace ? { trace: g.trace } : {}),
            ...(g.error !== undefined ? { error: g.error } : {}),
          };
          const w = new RowWriter(true);
          writeReplayRow(w, row);
          const text = Buffer.from(w.take()).toString('utf8');
          expect(text.endsWith('\n')).toBe(true);
          expect(text.indexOf('\n')).toBe(text.length - 1);
          expect(JSON.parse(text)).toEqual(replayRowJson(row));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('text rows keep fixed columns; an error replaces the outputs', () => {
    const w = new RowWriter(false);
    w.header();
    w.row(1, 1_700_000_000, 5, 0, 2, null, { error: 'runt frame of 9 bytes' });
    w.row(123456, 1_700_000_001, 999_999_999, 1000, 65535, { outputs: [{ port: PORT_CONTROLLER, bytes: ab }, { port: 4, bytes: ab }], lookups: [{ table: 1, state: 0x21, zone: 7, mark: 0xab, label: 5n }] });
    const lines = Buffer.from(w.take()).toString('utf8').trimEnd().split('\n');
    for (const name of ['timestamp', 'in_port', 'ct_state', 'ct_zone', 'ct_mark', 'ct_label', 'outputs']) {
      const col = lines[0]!.indexOf(name);
      expect(lines[1]![col - 1]).toBe(' ');
      expect(lines[2]![col - 1]).toBe(' ');
      expect(lines[2]![col]).not.toBe(' ');
    }
    expect(lines[1]).toMatch(/^1\s+1700000000\.000000005\s+2\s+-\s+-\s+-\s+-\s+-  ! runt frame of 9 bytes$/);
    expect(lines[2]!.split(/\s+/)).toEqual(['123456', '1700000001.999999999', '65535', 'new|trk', '7', '0xab', '0x5', 'controller,4']);
  });
});

describe('VirtualClock', () => {
  it('equals the bigint rule ⌊Δns / 10^6⌋, held when time goes back', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 2n ** 62n }), { minLength: 1, maxLength: 20 }), (ts) => {
        const c = new VirtualClock();
        let prev = 0;
        for (const t of ts) {
          const want = Math.max(prev, Number((t - ts[0]!) / 1_000_000n));
          prev = want;
          expect(c.atNs(t)).toBe(want);
        }
      }),
    );
  });
});
