/**
 * The bad-input table of issue 12: every command of the built CLI (a child process each: the
 * real exit code, stderr as a user sees it) fed inputs a user gets wrong. Each must exit 2 with a
 * message that names the file and the place (line:column, byte offset, packet, key) or the option,
 * with no stack trace, and end by itself (a hang is a child still running after 60 s, killed and
 * counted). The table is printed for the note.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { writePcapng } from '../../../model/packet/pcapng.js';
import { CLI, cliBuilt } from '../../support/cli-child.js';
import { describeWhen } from '../../support/tools.js';
import { POLICY } from '../runner/fake-target.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-bad-'));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m], { stdio: 'ignore' });
    } catch {
      /* not mounted */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});
const file = (name: string, data: string | Uint8Array): string => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const P = file('p.flows', POLICY.text);
const frame = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
const PCAP = file('ok.pcapng', writePcapng([{ timeNs: 1_000_000_000n, port: 1, data: frame, origLen: frame.length }]));
const good = writePcapng([{ timeNs: 1_000_000_000n, port: 1, data: frame, origLen: frame.length }, { timeNs: 2_000_000_000n, port: 1, data: frame, origLen: frame.length }]);
const TRUNC = file('trunc.pcapng', good.slice(0, good.length - 7));
const JUNK = file('junk.pcap', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
const UTF16 = file('utf16.flows', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(POLICY.text, 'utf16le')]));
const BINARY = file('bin.flows', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]));
const A_FILE = file('a-file', 'x');
const SUBDIR = join(dir, 'a-dir');
mkdirSync(SUBDIR);
const flows = (name: string, line2: string): string => file(name, `table=0,priority=10,ip,actions=ct(table=1,zone=5)\n${line2}\n`);
const traffic = (name: string, text: string): string => file(name, text);

let RO: string | null = null;
if (process.getuid?.() === 0) {
  const m = join(dir, 'ro');
  mkdirSync(m);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,ro', 'tmpfs', m], { stdio: 'ignore' });
    mounts.push(m);
    RO = m;
  } catch {
    RO = null;
  }
}

interface Case {
  cmd: string;
  input: string;
  args: string[];
  /** What "located" means for this input: the file and place, or the option. */
  where: RegExp;
}

const cases: Case[] = [
  // conformance
  { cmd: 'conformance', input: 'no --policy', args: ['conformance', '--target', 'ovs'], where: /--policy is required/ },
  { cmd: 'conformance', input: '--runs many', args: ['conformance', '--target', 'model', '--policy', P, '--runs', 'many'], where: /--runs: "many"/ },
  { cmd: 'conformance', input: '--seed 1e3', args: ['conformance', '--target', 'model', '--policy', P, '--seed', '1e3'], where: /--seed: "1e3"/ },
  { cmd: 'conformance', input: '--window 40', args: ['conformance', '--target', 'bmv2', '--policy', P, '--window', '40'], where: /--window: "40"/ },
  { cmd: 'conformance', input: '--target nope', args: ['conformance', '--target', 'nope', '--policy', P], where: /--target nope: unknown target/ },
  { cmd: 'conformance', input: '--path without --seed', args: ['conformance', '--target', 'model', '--policy', P, '--path', '1:2'], where: /--path needs --seed/ },
  { cmd: 'conformance', input: 'unknown option', args: ['conformance', '--target', 'model', '--policy', P, '--bogus'], where: /'--bogus'/ },
  { cmd: 'conformance', input: 'policy missing', args: ['conformance', '--target', 'model', '--policy', join(dir, 'none.flows')], where: /none\.flows: cannot read policy: ENOENT \(no such file or directory\)/ },
  { cmd: 'conformance', input: 'policy is a directory', args: ['conformance', '--target', 'model', '--policy', SUBDIR], where: /a-dir: cannot read policy: EISDIR \(illegal operation on a directory\)/ },
  { cmd: 'conformance', input: 'policy syntax error', args: ['conformance', '--target', 'model', '--policy', flows('syn.flows', 'table=1,ip,actions=frobnicate')], where: /syn\.flows:2:20: / },
  { cmd: 'conformance', input: 'UTF-16 policy', args: ['conformance', '--target', 'model', '--policy', UTF16], where: /utf16\.flows:1:1: not valid UTF-8 text \(the file looks like UTF-16/ },
  { cmd: 'conformance', input: 'binary policy', args: ['conformance', '--target', 'model', '--policy', BINARY], where: /bin\.flows:1:\d+: not a text policy: NUL byte/ },
  { cmd: 'conformance', input: 'in_port=70000 in a flow', args: ['conformance', '--target', 'model', '--policy', flows('port.flows', 'table=1,ip,in_port=70000,actions=drop')], where: /port\.flows:2:20: in_port=70000: invalid port/ },
  { cmd: 'conformance', input: 'set_field:5->reg16', args: ['conformance', '--target', 'model', '--policy', flows('reg.flows', 'table=1,ip,actions=set_field:5->reg16,output:2')], where: /reg\.flows:2:33: set_field: unknown field "reg16"/ },
  { cmd: 'conformance', input: 'bad nat range', args: ['conformance', '--target', 'model', '--policy', flows('nat.flows', 'table=1,ip,actions=ct(commit,nat(src=10.0.0.9-10.0.0.1))')], where: /nat\.flows:2:38: invalid nat range "10\.0\.0\.9-10\.0\.0\.1"/ },
  { cmd: 'conformance', input: 'port name as an action', args: ['conformance', '--target', 'model', '--policy', flows('pname.flows', 'table=1,ip,actions=p2')], where: /pname\.flows:2:20: "p2": .*port names are not supported/ },
  { cmd: 'conformance', input: 'ct_tp_src without ct_nw_proto', args: ['conformance', '--target', 'model', '--policy', flows('ctp.flows', 'table=1,ip,ct_state=+trk+est,ct_tp_src=80,actions=drop')], where: /ctp\.flows:2:\d+: ct_tp_src needs a ct_nw_proto match: without one OVS 3\.1 installs the flow but drops/ },
  { cmd: 'conformance', input: 'traffic null', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', traffic('null.json', 'null\n')], where: /--traffic .*null\.json: traffic option \(the whole object\): must be a JSON object/ },
  { cmd: 'conformance', input: 'traffic []', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', traffic('arr.json', '[]\n')], where: /--traffic .*arr\.json: .*got an array/ },
  { cmd: 'conformance', input: 'traffic unknown key', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', traffic('unk.json', '{\n  "flows": {"max": 2},\n  "flow": {"max": 3}\n}\n')], where: /--traffic .*unk\.json:3:3: traffic option flow: unknown option/ },
  { cmd: 'conformance', input: 'traffic unknown nested key', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', traffic('unk2.json', '{"include": {"tpc": false}}')], where: /unk2\.json:1:\d+: traffic option include\.tpc: unknown option/ },
  { cmd: 'conformance', input: 'traffic port 0', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', traffic('p0.json', '{"ports": {"inside": [0], "outside": [2]}}')], where: /p0\.json:1:\d+: traffic option ports\.inside: 0 is not a port/ },
  { cmd: 'conformance', input: 'traffic port 70000', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', traffic('p7.json', '{"ports": {"inside": [1], "outside": [70000]}}')], where: /p7\.json:1:\d+: traffic option ports\.outside: 70000 is not a port/ },
  { cmd: 'conformance', input: 'traffic timeScale 1e300', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', traffic('ts.json', '{"timeScale": 1e300}')], where: /ts\.json:1:2: traffic option timeScale: makes the longest gap/ },
  { cmd: 'conformance', input: 'traffic not JSON', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', traffic('bad.json', '{\n  "flows": {"max": 2,}\n}')], where: /bad\.json:2:\d+: not valid JSON/ },
  { cmd: 'conformance', input: 'traffic file missing', args: ['conformance', '--target', 'model', '--policy', P, '--traffic', join(dir, 'none.json')], where: /--traffic .*none\.json: cannot read the traffic options: ENOENT/ },
  { cmd: 'conformance', input: '--replay missing', args: ['conformance', '--target', 'model', '--policy', P, '--replay', join(dir, 'none-cx.json')], where: /--replay .*none-cx\.json: cannot read: ENOENT/ },
  { cmd: 'conformance', input: '--replay not JSON', args: ['conformance', '--target', 'model', '--policy', P, '--replay', P], where: /--replay .*p\.flows: not valid JSON/ },
  { cmd: 'conformance', input: '--replay other JSON', args: ['conformance', '--target', 'model', '--policy', P, '--replay', traffic('other.json', '{"a": 1}')], where: /--replay .*other\.json: neither a counterexample-N\.json nor a report\.json/ },
  { cmd: 'conformance', input: '--report onto a file', args: ['conformance', '--target', 'model', '--policy', P, '--runs', '2', '--report', join(A_FILE, 'out')], where: new RegExp(`--report ${esc(join(A_FILE, 'out'))}: cannot create the report directory: ENOTDIR`) },
  ...(RO ? [{ cmd: 'conformance', input: '--report on a read-only mount', args: ['conformance', '--target', 'model', '--policy', P, '--runs', '2', '--report', join(RO, 'out')], where: /--report .*ro\/out: cannot create the report directory: EROFS \(read-only file system\)/ }] : []),
  { cmd: 'conformance', input: '--artifacts missing', args: ['conformance', '--target', 'model', '--policy', P, '--artifacts', join(dir, 'nothere')], where: /--artifacts .*nothere: no such directory/ },
  // replay
  { cmd: 'replay', input: '--in-port -1', args: ['replay', '--policy', P, '--pcap', PCAP, '--in-port', '-1'], where: /--in-port: "-1" is not a port number/ },
  { cmd: 'replay', input: '--in-port eth0', args: ['replay', '--policy', P, '--pcap', PCAP, '--in-port', 'eth0'], where: /--in-port: "eth0" is not a port number/ },
  { cmd: 'replay', input: 'capture missing', args: ['replay', '--policy', P, '--pcap', join(dir, 'none.pcap')], where: /none\.pcap: cannot read capture: ENOENT/ },
  { cmd: 'replay', input: 'capture not pcap', args: ['replay', '--policy', P, '--pcap', JUNK], where: /junk\.pcap: byte 0: / },
  { cmd: 'replay', input: 'capture truncated', args: ['replay', '--policy', P, '--pcap', TRUNC], where: /trunc\.pcapng: byte \d+: / },
  { cmd: 'replay', input: 'UTF-16 policy', args: ['replay', '--policy', UTF16, '--pcap', PCAP], where: /utf16\.flows:1:1: not valid UTF-8/ },
  { cmd: 'replay', input: 'action= typo (acitons=)', args: ['replay', '--policy', flows('typo.flows', 'table=1,ip,acitons=drop'), '--pcap', PCAP], where: /typo\.flows:2:\d+: / },
  { cmd: 'replay', input: 'unknown option', args: ['replay', '--policy', P, '--pcap', PCAP, '--bogus'], where: /'--bogus'/ },
  { cmd: 'replay', input: '--target nope', args: ['replay', '--policy', P, '--pcap', PCAP, '--target', 'nope'], where: /--target nope: unknown target/ },
  // status (checked before any switch starts)
  { cmd: 'status', input: '--config missing', args: ['status', '--policy', P, '--pcap', PCAP, '--config', join(dir, 'none-cfg.json')], where: /--config .*none-cfg\.json: cannot read the offload configuration: ENOENT/ },
  { cmd: 'status', input: '--config not JSON', args: ['status', '--policy', P, '--pcap', PCAP, '--config', P], where: /p\.flows: .*not valid JSON/ },
  { cmd: 'status', input: '--config unknown key', args: ['status', '--policy', P, '--pcap', PCAP, '--config', traffic('cfg.json', '{"tabels": 3}')], where: /cfg\.json: .*tabels/ },
  { cmd: 'status', input: '--in-port -1', args: ['status', '--policy', P, '--pcap', PCAP, '--in-port', '-1'], where: /--in-port: "-1" is not a bmv2 port/ },
  // generate
  { cmd: 'generate', input: '--out onto a file', args: ['generate', '--policy', P, '--out', join(A_FILE, 'out'), '--no-p4c'], where: new RegExp(`--out ${esc(join(A_FILE, 'out'))}: cannot create the output directory: ENOTDIR \\(not a directory\\)`) },
  ...(RO ? [{ cmd: 'generate', input: '--out on a read-only mount', args: ['generate', '--policy', P, '--out', join(RO, 'out'), '--no-p4c'], where: /--out .*ro\/out: cannot create the output directory: EROFS \(read-only file system\)/ }] : []),
  { cmd: 'generate', input: 'policy missing', args: ['generate', '--policy', join(dir, 'none.flows'), '--out', join(dir, 'g')], where: /none\.flows: cannot read: ENOENT/ },
  { cmd: 'generate', input: 'bad policy', args: ['generate', '--policy', flows('g.flows', 'table=1,ip,actions=frobnicate'), '--out', join(dir, 'g')], where: /g\.flows:2:20: / },
  { cmd: 'generate', input: 'config unknown key', args: ['generate', '--policy', P, '--out', join(dir, 'g'), '--config', traffic('gcfg.json', '{"tabels": 3}')], where: /gcfg\.json: .*tabels/ },
  // top level
  { cmd: '(none)', input: 'unknown command', args: ['frobnicate'], where: /unknown command 'frobnicate'/ },
];

interface Outcome {
  code: number | null;
  err: string;
  hung: boolean;
}

function runCase(args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CTOFFLOAD_DEBUG: '' } });
    let err = '';
    c.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    let hung = false;
    // Not a deadline deciding an outcome: a command that has not ended after a minute on bad
    // input is the hang this table counts.
    const guard = setTimeout(() => {
      hung = true;
      c.kill('SIGKILL');
    }, 60_000);
    c.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, err, hung });
    });
  });
}

describeWhen('bad inputs across every command (issue 12 table)', cliBuilt() ? null : 'dist/ (npm run build)', () => {
  it('every bad input: exit 2, located, no stack trace, no hang', async () => {
    const rows: { c: Case; o: Outcome; located: boolean; stack: boolean }[] = [];
    // Two at a time: the machine is shared.
    for (let i = 0; i < cases.length; i += 2) {
      const batch = cases.slice(i, i + 2);
      const outs = await Promise.all(batch.map((c) => runCase(c.args)));
      batch.forEach((c, k) => {
        const o = outs[k]!;
        rows.push({ c, o, located: c.where.test(o.err), stack: /\n\s+at .+:\d+:\d+/.test(o.err) });
      });
    }
    const table = [
      '| command | input | exit | located | stack trace | hang | message |',
      '|---|---|---|---|---|---|---|',
      ...rows.map(({ c, o, located, stack }) => `| ${c.cmd} | ${c.input} | ${o.code} | ${located ? 'yes' : 'NO'} | ${stack ? 'YES' : 'no'} | ${o.hung ? 'YES' : 'no'} | ${o.err.split('\n')[0]!.replace(dir, '…').replace(/\|/g, '\\|').slice(0, 140)} |`),
      '',
      `${rows.length} inputs: ${rows.filter((r) => r.o.code === 2).length} exit 2, ${rows.filter((r) => r.located).length} located (file + place, or the option), ${rows.filter((r) => r.stack).length} stack traces, ${rows.filter((r) => r.o.hung).length} hangs`,
    ].join('\n');
    process.stderr.write(`\n${table}\n`);
    for (const { c, o, located, stack } of rows) {
      expect.soft(o.code, `${c.cmd} ${c.input}: ${o.err}`).toBe(2);
      expect.soft(located, `${c.cmd} ${c.input}: ${o.err}`).toBe(true);
      expect.soft(stack, `${c.cmd} ${c.input}`).toBe(false);
      expect.soft(o.hung, `${c.cmd} ${c.input}`).toBe(false);
    }
  }, 600_000);
});
