/**
 * p4/nanomsg.ts against libnanomsg itself (Debian `nanomsg-utils`' nanocat, docs/p4-target-interfaces.md §5.5), both
 * directions: we bind and nanocat connects, nanocat binds and we connect. Each side sends and
 * receives. nanocat in PAIR mode with `--data`/`--interval` sends the message repeatedly and
 * prints what it receives (`--ascii`: one line per message).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { SpPairListener, SpPairSocket } from '../../p4/nanomsg.js';
import { describeWithTools, findTool, NANOCAT_TOOL } from '../support/tools.js';

describeWithTools('SP PAIR over IPC against nanocat (libnanomsg)', [NANOCAT_TOOL], () => {
  const dir = mkdtempSync(join(tmpdir(), 'nnc-'));
  const procs: ChildProcess[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) p.kill('SIGKILL');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function nanocat(args: string[]): { proc: ChildProcess; lines: string[]; waitLine(re: RegExp, ms: number): Promise<string> } {
    const proc = spawn(findTool('nanocat')!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(proc);
    const lines: string[] = [];
    let buf = '';
    const waiters: (() => void)[] = [];
    const onText = (d: Buffer): void => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
      for (const w of waiters.splice(0)) w();
    };
    proc.stdout!.on('data', onText);
    proc.stderr!.on('data', onText);
    const waitLine = async (re: RegExp, ms: number): Promise<string> => {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = lines.find((l) => re.test(l));
        if (hit !== undefined) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`nanocat printed no line matching ${re} within ${ms} ms; got ${JSON.stringify(lines)}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    };
    return { proc, lines, waitLine };
  }

  it('we bind, nanocat connects: messages both ways', async () => {
    const addr = `ipc://${join(dir, 'a.ipc')}`;
    const l = await SpPairListener.listen(addr);
    try {
      const nc = nanocat(['--pair', '--connect', addr, '--data', 'from-nanocat', '--interval', '0.1', '--ascii']);
      const peer = await l.accept(5000);
      expect((await peer.recv(5000)).toString()).toBe('from-nanocat');
      peer.send(Buffer.from('from-ctoffload'));
      expect(await nc.waitLine(/from-ctoffload/, 5000)).toBe('from-ctoffload');
    } finally {
      await l.close();
    }
  });

  it('nanocat binds, we connect: messages both ways, binary payload intact', async () => {
    const addr = `ipc://${join(dir, 'b.ipc')}`;
    const nc = nanocat(['--pair', '--bind', addr, '--data', 'hello', '--interval', '0.1', '--quoted']);
    let sock: SpPairSocket | undefined;
    const deadline = Date.now() + 5000;
    while (!sock) {
      try {
        sock = await SpPairSocket.connect(addr);
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    try {
      expect((await sock.recv(5000)).toString()).toBe('hello');
      sock.send(Buffer.from([0x41, 0x00, 0x0a, 0xff]));
      // --quoted prints C-like escapes: A, \x00, \n, \xff.
      expect(await nc.waitLine(/^"A/, 5000)).toBe('"A\\x00\\n\\xff"');
    } finally {
      sock.close();
    }
  });

  it('nanocat with another socket type is refused at the handshake', async () => {
    const addr = `ipc://${join(dir, 'c.ipc')}`;
    const l = await SpPairListener.listen(addr);
    const errors: unknown[] = [];
    l.on('handshakeError', (e) => errors.push(e));
    try {
      nanocat(['--push', '--connect', addr, '--data', 'x', '--interval', '0.1']);
      const deadline = Date.now() + 5000;
      while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(errors[0]).toMatchObject({ code: 'CTO_NANOMSG_PROTOCOL' });
      expect(String((errors[0] as Error).message)).toMatch(/socket type 80 is not compatible/);
      expect(l.peer).toBeUndefined();
    } finally {
      await l.close();
    }
  });
});
