/**
 * bmv2 driver lifecycle without bmv2: tiny executable scripts stand in for simple_switch_grpc —
 * one that becomes ready (answers P4Runtime Capabilities on --grpc-server-addr), one that dies at
 * start with a message, one that dies later, one that never answers and ignores SIGTERM. Also
 * the bmv2 JSON shape check.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Bmv2Switch, liveSwitchCount, readTail, validateBmv2Json } from '../../p4/bmv2.js';

const dir = mkdtempSync(join(tmpdir(), 'fakebmv2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const grpcPath = createRequire(import.meta.url).resolve('@grpc/grpc-js');

/**
 * A fake switch. Modes: ready | die-at-start | die-later | hang. `ignoreTerm`: SIGTERM ignored
 * (stop() must escalate to SIGKILL).
 */
function fake(name: string, mode: 'ready' | 'die-at-start' | 'die-later' | 'hang', ignoreTerm = false): string {
  const p = join(dir, name);
  writeFileSync(
    p,
    `#!${process.execPath}
const args = process.argv.slice(2);
const addr = args[args.indexOf('--grpc-server-addr') + 1];
console.log('fake switch ' + ${JSON.stringify(mode)} + ' args: ' + args.join(' '));
${ignoreTerm ? "process.on('SIGTERM', () => console.log('ignoring SIGTERM'));" : "process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });"}
if (${JSON.stringify(mode)} === 'die-at-start') {
  console.log('Field standard_metadata.egress_port is required by switch target but is not defined');
  process.exit(1);
}
if (${JSON.stringify(mode)} === 'hang') { setInterval(() => {}, 1000); }
else {
  const grpc = require(${JSON.stringify(grpcPath)});
  const id = (x) => x;
  const server = new grpc.Server();
  server.addService(
    { Capabilities: { path: '/p4.v1.P4Runtime/Capabilities', requestStream: false, responseStream: false,
        requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
    // CapabilitiesResponse { p4runtime_api_version (1): "9.9.9" }
    { Capabilities: (call, cb) => cb(null, Buffer.from([0x0a, 5, 0x39, 0x2e, 0x39, 0x2e, 0x39])) });
  // Like bmv2, start listening a little after spawn.
  setTimeout(() => server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), () => {}), 50);
  if (${JSON.stringify(mode)} === 'die-later') setTimeout(() => { console.error('terminate called: boom'); process.exit(134); }, 400);
}
`,
  );
  chmodSync(p, 0o755);
  return p;
}

describe('Bmv2Switch lifecycle (fake executables)', () => {
  it('starts, passes the documented command line, reports readiness, stops with SIGTERM', async () => {
    const sw = await Bmv2Switch.start({ binary: fake('ready', 'ready'), startDeadlineMs: 10_000 });
    expect(sw.apiVersion).toBe('9.9.9');
    expect(sw.running).toBe(true);
    expect(sw.deviceId).toBe(1n);
    expect(sw.args).toEqual([
      '--device-id', '1', '--thrift-port', String(sw.thriftPort), '--log-console', '-L', 'warn', '--no-p4', '--',
      '--grpc-server-addr', sw.grpcAddress, '--dp-grpc-server-addr', sw.dataplaneAddress, '--cpu-port', '510',
    ]);
    expect(readFileSync(sw.logPath, 'utf8')).toContain('fake switch ready args: --device-id 1');
    expect(liveSwitchCount()).toBeGreaterThanOrEqual(1);
    const exit = await sw.stop();
    expect(exit).toEqual({ code: 0, signal: null, expected: true });
    expect(existsSync(sw.dir)).toBe(false);
  });

  it('nanomsg mode: --packet-in ipc:// in its dir, no dataplane address', async () => {
    await using sw = await Bmv2Switch.start({ binary: fake('ready2', 'ready'), packetIo: 'nanomsg', cpuPort: null, deviceId: 7 });
    expect(sw.dataplaneAddress).toBeUndefined();
    expect(sw.packetInAddress).toBe(`ipc://${join(sw.dir, 'packet.ipc')}`);
    expect(sw.args).toContain('--packet-in');
    expect(sw.args).not.toContain('--cpu-port');
    expect(sw.args.slice(0, 2)).toEqual(['--device-id', '7']);
  });

  it('a switch that exits at start fails with CTO_BMV2_EXIT and its reason from the log', async () => {
    const err = (await Bmv2Switch.start({ binary: fake('dies', 'die-at-start') }).catch((e: unknown) => e)) as Error & { code: string; logTail: string; logPath: string };
    expect(err.code).toBe('CTO_BMV2_EXIT');
    expect(err.message).toMatch(/exited with code 1 during start-up/);
    expect(err.logTail).toContain('required by switch target');
    // An unexpected death keeps the log.
    expect(existsSync(err.logPath)).toBe(true);
    rmSync(dirname(err.logPath), { recursive: true, force: true });
  });

  it('a switch that never answers fails with CTO_BMV2_TIMEOUT and is killed even if it ignores SIGTERM', async () => {
    // Nothing here depends on how fast the machine is (issue 12: this failed 2 of 4 runs under
    // load when it expected the fake's own first log line within the 300 ms deadline): the fake
    // never answers, so the deadline can only end in CTO_BMV2_TIMEOUT; the log tail is checked
    // through the command line the driver writes to the log itself before spawning; and the
    // kill is checked by the registry count, whether the fake had set its SIGTERM handler yet
    // (SIGKILL after the stop deadline) or not (SIGTERM).
    const before = liveSwitchCount();
    const binary = fake('hang', 'hang', true);
    const err = (await Bmv2Switch.start({ binary, startDeadlineMs: 300, stopDeadlineMs: 200 }).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('CTO_BMV2_TIMEOUT');
    expect(err.message).toMatch(/did not answer Capabilities .* within 300 ms/);
    expect(err.message).toContain(binary); // the log tail: the driver's own "# binary args" line
    expect(liveSwitchCount()).toBe(before);
  });

  it('stop() escalates to SIGKILL after the deadline', async () => {
    const sw = await Bmv2Switch.start({ binary: fake('stubborn', 'ready', true), stopDeadlineMs: 200 });
    const exit = await sw.stop();
    expect(exit.signal).toBe('SIGKILL');
    expect(readTail(sw.logPath)).toBe(''); // dir removed after a requested stop
  });

  it('a pending call fails promptly with CTO_BMV2_EXIT when the switch dies, with the log tail', async () => {
    const sw = await Bmv2Switch.start({ binary: fake('dieslater', 'die-later') });
    try {
      const never = new Promise<never>(() => undefined);
      const err = (await sw.guard(never, 'while waiting').catch((e: unknown) => e)) as Error & { code: string; exit: { code: number } };
      expect(err.code).toBe('CTO_BMV2_EXIT');
      expect(err.exit.code).toBe(134);
      expect(err.message).toMatch(/exited with code 134 while waiting/);
      expect(err.message).toContain('terminate called: boom');
      // Calls made after the death fail at once.
      await expect(sw.guard(Promise.resolve(1))).rejects.toMatchObject({ code: 'CTO_BMV2_EXIT' });
    } finally {
      await sw.stop();
      rmSync(sw.dir, { recursive: true, force: true });
    }
  });

  it('a missing binary is named', async () => {
    await expect(Bmv2Switch.start({ binary: join(dir, 'nope') })).rejects.toMatchObject({ code: 'CTO_TOOL_MISSING' });
  });

  it('installs signal handlers only while switches run', async () => {
    const base = process.listenerCount('SIGINT');
    const sw = await Bmv2Switch.start({ binary: fake('ready3', 'ready') });
    expect(process.listenerCount('SIGINT')).toBe(base + 1);
    await sw.stop();
    expect(process.listenerCount('SIGINT')).toBe(base);
  });
});

describe('validateBmv2Json', () => {
  const good = {
    header_types: [{ name: 'standard_metadata', fields: [['ingress_port', 9, false], ['egress_spec', 9, false], ['egress_port', 9, false], ['instance_type', 32, false], ['packet_length', 32, false]] }],
    headers: [{ name: 'standard_metadata', header_type: 'standard_metadata' }],
    parsers: [{ name: 'parser' }],
    deparsers: [{ name: 'deparser' }],
    actions: [],
    pipelines: [{ name: 'ingress', tables: [] }, { name: 'egress', tables: [] }],
  };

  it('accepts the shape p4c writes', () => {
    expect(() => validateBmv2Json(JSON.stringify(good))).not.toThrow();
    expect(() => validateBmv2Json(Buffer.from(JSON.stringify(good)))).not.toThrow();
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['the docs/p4-target-interfaces.md §4.12 garbage', '{"this is": "not bmv2"}', /'header_types' is missing/],
    ['no egress pipeline', JSON.stringify({ ...good, pipelines: [{ name: 'ingress', tables: [] }] }), /no 'egress' pipeline/],
    ['no egress_port', JSON.stringify({ ...good, header_types: [{ name: 'standard_metadata', fields: [['ingress_port', 9, false]] }] }), /standard_metadata.egress_spec is required/],
    ['an array', '[]', /not an object/],
  ])('rejects %s', (_what, text, re) => {
    expect(() => validateBmv2Json(text)).toThrow(re);
    expect(() => validateBmv2Json(text)).toThrow(expect.objectContaining({ code: 'CTO_BMV2_JSON' }));
  });
});
