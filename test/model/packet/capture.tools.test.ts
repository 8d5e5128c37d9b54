/**
 * Cross-checks against Wireshark's tools (Debian: tshark, which brings editcap and text2pcap):
 * our pcapng/pcap files read by tshark/capinfos, files written by editcap/text2pcap read by us,
 * and buildFrame's headers and checksums as tshark dissects and verifies them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { formatIpv6, parseIpv6 } from '../../../model/packet/addr.js';
import { type FrameSpec, buildFrame, ipPacketOf, parseTcpFlags } from '../../../model/packet/build.js';
import { type CaptureRecord, readCapture, readCaptureFile, writePcap, writePcapng } from '../../../model/packet/capture.js';
import { describeWithTools } from '../../support/tools.js';
import { ipv4Arb, ipv6Arb } from './arbitraries.js';

const INSTALL = 'apt-get install -y tshark';
let dir = '';
const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });

/** tshark fields, one row per frame, one column per field ('|' separated; repeated fields ',' separated). */
function tsharkFields(file: string, fields: string[], prefs: string[] = []): string[][] {
  const args = ['-r', file, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const p of prefs) args.push('-o', p);
  for (const f of fields) args.push('-e', f);
  return run('tshark', args).split('\n').filter((l) => l.length > 0).map((l) => l.split('|'));
}

const CHECKSUM_PREFS = ['ip.check_checksum:TRUE', 'tcp.check_checksum:TRUE', 'udp.check_checksum:TRUE', 'ip.defragment:FALSE', 'ipv6.defragment:FALSE'];

describeWithTools(
  'capture files and frames vs Wireshark tools',
  [{ cmd: 'tshark', install: INSTALL }, { cmd: 'editcap', install: INSTALL }, { cmd: 'text2pcap', install: INSTALL }, { cmd: 'capinfos', install: INSTALL }],
  () => {
    const a = buildFrame({ vlan: 7, ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1000, dport: 80, flags: 'S', options: { wscale: 7, mss: 1460 } }, payload: 'x' });
    const b = buildFrame({ ip: { src: '2001:db8::1', dst: '2001:db8::2' }, udp: { sport: 1, dport: 2 }, payload: 'hello' });
    const c = buildFrame({ ip: { src: '10.0.0.2', dst: '10.0.0.1' }, icmpError: { type: 3, code: 3, inner: ipPacketOf(a) } });
    const recs: CaptureRecord[] = [
      { timeNs: 1_700_000_000_123_456_789n, port: 3, data: a, origLen: a.length, comment: 'first packet' },
      { timeNs: 1_700_000_000_223_456_789n, port: 5, data: b, origLen: b.length + 100 },
      { timeNs: 1_700_000_000_323_456_789n, port: 3, data: c, origLen: c.length, comment: 'ünïcode' },
    ];
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'ctoffload-tshark-'));
    });

    it('tshark reads our pcapng: interface names, ns times, comments, lengths', () => {
      const f = join(dir, 'ours.pcapng');
      writeFileSync(f, writePcapng(recs));
      const rows = tsharkFields(f, ['frame.interface_name', 'frame.time_epoch', 'frame.comment', 'frame.len', 'frame.cap_len']);
      expect(rows).toEqual(recs.map((r) => [`port${r.port}`, `${r.timeNs / 1_000_000_000n}.${String(r.timeNs % 1_000_000_000n).padStart(9, '0')}`, r.comment ?? '', String(r.origLen), String(r.data.length)]));
      expect(run('capinfos', ['-M', '-c', f])).toMatch(/Number of packets:\s+3\b/);
    });

    it('tshark reads our classic pcap (µs and ns)', () => {
      for (const nanos of [false, true]) {
        const f = join(dir, `ours-${nanos}.pcap`);
        writeFileSync(f, writePcap(recs, { nanos }));
        const rows = tsharkFields(f, ['frame.time_epoch', 'frame.len']);
        const digits = nanos ? 9 : 6;
        expect(rows).toEqual(recs.map((r) => {
          const frac = String(r.timeNs % 1_000_000_000n).padStart(9, '0').slice(0, digits).padEnd(9, '0');
          return [`${r.timeNs / 1_000_000_000n}.${frac}`, String(r.origLen)];
        }));
      }
    });

    it('we read what editcap and text2pcap write (pcap, nsecpcap, pcapng)', async () => {
      const src = join(dir, 'src.pcapng');
      writeFileSync(src, writePcapng(recs));
      for (const fmt of ['pcap', 'nsecpcap', 'pcapng']) {
        const out = join(dir, `editcap.${fmt}`);
        run('editcap', ['-F', fmt, src, out]);
        const got = await readCaptureFile(out, { port: 3 });
        expect(got.map((r) => r.data)).toEqual(recs.map((r) => r.data));
        expect(got.map((r) => r.origLen)).toEqual(recs.map((r) => r.origLen));
        const unit = fmt === 'pcap' ? 1000n : 1n;
        expect(got.map((r) => r.timeNs)).toEqual(recs.map((r) => (r.timeNs / unit) * unit));
        if (fmt === 'pcapng') expect(got.map((r) => [r.port, r.comment])).toEqual(recs.map((r) => [r.port, r.comment]));
      }
      // text2pcap: a hex dump in, a capture of its own making out (pcapng with -n).
      const hex = recs.map((r) => Array.from(r.data, (x, i) => `${i % 16 === 0 ? `${i === 0 ? '' : '\n'}${i.toString(16).padStart(6, '0')} ` : ''} ${x.toString(16).padStart(2, '0')}`).join('') + '\n').join('\n');
      writeFileSync(join(dir, 'dump.txt'), hex);
      for (const args of [[], ['-n']]) {
        const out = join(dir, `t2p${args.join('')}.cap`);
        run('text2pcap', ['-q', ...args, join(dir, 'dump.txt'), out]);
        const got = readCapture(new Uint8Array(readFileSync(out)), out);
        expect(got.map((r) => r.data)).toEqual(recs.map((r) => r.data));
      }
    });

    it('tshark dissects buildFrame frames as specified and finds every checksum good', () => {
      const port = fc.integer({ min: 1, max: 65535 });
      const u = (bits: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 2 ** bits - 1 });
      const specArb: fc.Arbitrary<FrameSpec> = fc
        .tuple(fc.boolean(), fc.tuple(ipv4Arb, ipv4Arb), fc.tuple(ipv6Arb, ipv6Arb), fc.option(fc.integer({ min: 1, max: 4094 }), { nil: undefined }),
          fc.oneof(
            fc.record({ sport: port, dport: port, seq: u(32), flags: fc.constantFrom('S', 'SA', 'A', 'PA', 'FA', 'R'), win: u(16), options: fc.record({ wscale: u(4), mss: u(16) }) }).map((tcp) => ({ tcp })),
            fc.record({ sport: port, dport: port }).map((udp) => ({ udp })),
            fc.record({ id: u(16), seq: u(16) }).map((icmp) => ({ icmp })),
          ),
          fc.uint8Array({ minLength: 1, maxLength: 40 }))
        .map(([v6, a4, a6, vlan, l4, payload]) => {
          const [src, dst] = v6 ? a6 : a4;
          const spec = { ip: { src, dst }, payload, ...l4 } as FrameSpec;
          if (vlan !== undefined) spec.vlan = vlan;
          if (spec.icmp) spec.icmp = { ...spec.icmp, type: v6 ? 128 : 8 };
          return spec;
        });
      const specs = fc.sample(specArb, { numRuns: 150, seed: 42 });
      const f = join(dir, 'built.pcapng');
      writeFileSync(f, writePcapng(specs.map((s, i) => {
        const data = buildFrame(s);
        return { timeNs: BigInt(i), port: 1, data, origLen: data.length };
      })));
      const fields = ['vlan.id', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.flags', 'tcp.window_size_value',
        'tcp.options.wscale.shift', 'tcp.options.mss_val', 'udp.srcport', 'udp.dstport', 'icmp.ident', 'icmpv6.echo.identifier', 'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status'];
      const rows = tsharkFields(f, fields, CHECKSUM_PREFS);
      expect(rows.length).toBe(specs.length);
      specs.forEach((s, i) => {
        const r = Object.fromEntries(fields.map((k, j) => [k, rows[i]![j]!]));
        const v6 = s.ip!.src.includes(':');
        expect(r['vlan.id']).toBe(s.vlan === undefined ? '' : String(s.vlan));
        // tshark prints IPv6 in RFC 5952 form; compare through our parser/formatter.
        expect(r[v6 ? 'ipv6.src' : 'ip.src']).toBe(v6 ? canon6(s.ip!.src) : s.ip!.src);
        expect(r[v6 ? 'ipv6.dst' : 'ip.dst']).toBe(v6 ? canon6(s.ip!.dst) : s.ip!.dst);
        if (!v6) expect(r['ip.checksum.status']).toBe('1');
        if (s.tcp) {
          expect([r['tcp.srcport'], r['tcp.dstport'], r['tcp.seq_raw'], r['tcp.window_size_value']]).toEqual([s.tcp.sport, s.tcp.dport, s.tcp.seq, s.tcp.win].map(String));
          expect(Number(r['tcp.flags'])).toBe(parseTcpFlags(s.tcp.flags!));
          expect([r['tcp.options.wscale.shift'], r['tcp.options.mss_val']]).toEqual([String(s.tcp.options!.wscale), String(s.tcp.options!.mss)]);
          expect(r['tcp.checksum.status']).toBe('1');
        } else if (s.udp) {
          expect([r['udp.srcport'], r['udp.dstport'], r['udp.checksum.status']]).toEqual([String(s.udp.sport), String(s.udp.dport), '1']);
        } else {
          expect(Number(r[v6 ? 'icmpv6.echo.identifier' : 'icmp.ident'])).toBe(s.icmp!.id);
          expect(r[v6 ? 'icmpv6.checksum.status' : 'icmp.checksum.status']).toBe('1');
        }
      });
    });

    it('tshark agrees that badChecksum frames have bad checksums', () => {
      const ip = { src: '10.1.1.1', dst: '10.1.1.2' };
      const frames = [
        buildFrame({ ip: { ...ip, badChecksum: true }, udp: { sport: 1, dport: 2 } }),
        buildFrame({ ip, tcp: { sport: 1, dport: 2, badChecksum: true } }),
        buildFrame({ ip, udp: { sport: 1, dport: 2, checksum: 0x1234 } }),
        buildFrame({ ip, icmp: { type: 8, badChecksum: true } }),
      ];
      const f = join(dir, 'bad.pcapng');
      writeFileSync(f, writePcapng(frames.map((data, i) => ({ timeNs: BigInt(i), port: 0, data, origLen: data.length }))));
      const rows = tsharkFields(f, ['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'icmp.checksum.status'], CHECKSUM_PREFS);
      expect(rows.map((r) => r.filter((x) => x !== ''))).toEqual([['0', '1'], ['1', '0'], ['1', '0'], ['1', '0']]);
    });
  },
);

function canon6(s: string): string {
  return formatIpv6(parseIpv6(s));
}
