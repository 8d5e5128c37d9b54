/**
 * The one owner of SIGINT/SIGTERM (harness/cli/signals.ts): `runOwningSignals` turns whatever a
 * signal cut short into 130/143 and gives the signals back however the command ends;
 * `stopBeforeNextPacket` stops a packet loop that does not watch the signal before its next
 * packet and lets close() and the target's own extras through; `driveOwningSignals` (the hook
 * for `replay --target`) owns the signals only while its target runs and ends in an
 * InterruptedError that `reportError` turns into 130/143. Real process signals go through
 * `process.emit`, i.e. every listener the process has, as a kill(2) would.
 */
import { describe, expect, it } from 'vitest';
import { reportError, type CliIo } from '../../../harness/cli/command.js';
import { driveOwningSignals, runOwningSignals, shutdownOwned, stopBeforeNextPacket } from '../../../harness/cli/signals.js';
import type { SendStep } from '../../../harness/targets/target.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { PipelineEngine } from '../../../model/pipeline/index.js';
import { buildFrame } from '../../../model/packet/build.js';
import { CtoffloadError } from '../../../model/errors.js';
import { POLICY } from '../runner/fake-target.js';

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}
const frame = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });

describe('runOwningSignals', () => {
  it('without a signal: the body\'s code, and the signals are given back', async () => {
    const x = io();
    let owned = false;
    expect(await runOwningSignals('t', x, async () => {
      owned = shutdownOwned();
      return 1;
    })).toBe(1);
    expect(owned).toBe(true);
    expect(shutdownOwned()).toBe(false);
    expect(x.e).toBe('');
  });

  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`a real ${sig} during the body: ${code} even though the body then returned 0`, async () => {
      const x = io();
      expect(await runOwningSignals('t', x, async (s) => {
        process.emit(sig, sig);
        expect(s.signal.aborted).toBe(true);
        expect(s.received()).toBe(sig);
        return 0;
      })).toBe(code);
      expect(x.e).toContain(`ctoffload t: ${sig === 'SIGINT' ? 'interrupted' : 'terminated'}, finishing the current packet`);
      expect(shutdownOwned()).toBe(false);
    });
  }

  it('a failure the interruption caused is the interruption: 130, one line, no stack', async () => {
    const x = io();
    const ac = new AbortController();
    expect(await runOwningSignals('t', x, async () => {
      ac.abort();
      throw new CtoffloadError('CTO_BMV2_EXIT', 'simple_switch_grpc exited while starting');
    }, ac.signal)).toBe(130);
    expect(x.e).toBe('ctoffload t: interrupted: simple_switch_grpc exited while starting\n');
  });

  it('an error with no signal is reported by its class (input 2, environment 3, bug 4)', async () => {
    const x = io();
    expect(await runOwningSignals('t', x, async () => {
      throw new CtoffloadError('CTO_FLOW_PARSE', 'p.flows:3:7: bad');
    })).toBe(2);
    expect(x.e).toBe('ctoffload t: p.flows:3:7: bad\n');
    expect(await runOwningSignals('t', io(), async () => {
      throw new CtoffloadError('CTO_OVS_EXIT', 'ovs-vswitchd died');
    })).toBe(3);
    expect(await runOwningSignals('t', io(), async () => {
      throw new TypeError('x is undefined');
    })).toBe(4);
    expect(shutdownOwned()).toBe(false);
  });
});

describe('stopBeforeNextPacket', () => {
  it('passes calls through until the signal, then refuses to drive the target; close() and extras still pass', async () => {
    const inner = new ModelTarget(new PipelineEngine());
    const calls: string[] = [];
    for (const m of ['load', 'send', 'reset', 'close'] as const) {
      const f = (inner[m] as (...a: unknown[]) => Promise<unknown>).bind(inner);
      (inner as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
        calls.push(m);
        return f(...a);
      };
    }
    const ac = new AbortController();
    const t = stopBeforeNextPacket(inner, ac.signal);
    expect(t.name).toBe(inner.name);
    await t.load(POLICY);
    const v = await t.send({ time: 0, port: 1, frame });
    expect(v.outputs.map((o) => o.port)).toEqual([2]);
    ac.abort();
    await expect(t.send({ time: 1, port: 1, frame })).rejects.toBe(ac.signal.reason);
    await expect(t.reset()).rejects.toBe(ac.signal.reason);
    await expect(t.load(POLICY)).rejects.toBe(ac.signal.reason);
    expect(calls).toEqual(['load', 'send']); // nothing reached the target after the signal
    await t.close();
    expect(calls).toEqual(['load', 'send', 'close']);
  });
});

describe('driveOwningSignals (a command that owns the signals only while it drives a target)', () => {
  /** A model target counting what reached it; `onSend(n)` runs before the n-th send. */
  function counted(onSend: (n: number) => void = () => {}): { make: () => Promise<ModelTarget>; sent: () => number; closed: () => boolean } {
    let sent = 0;
    let closed = false;
    const make = async (): Promise<ModelTarget> => {
      const t = new ModelTarget(new PipelineEngine());
      await t.load(POLICY);
      const send = t.send.bind(t);
      const close = t.close.bind(t);
      t.send = async (st: SendStep) => {
        onSend(++sent);
        return send(st);
      };
      t.close = async () => {
        closed = true;
        return close();
      };
      return t;
    };
    return { make, sent: () => sent, closed: () => closed };
  }
  const loop = async (t: ModelTarget): Promise<number> => {
    for (let i = 0; i < 10; i++) await t.send({ time: i, port: 1, frame });
    return 10;
  };

  it('without a signal: the loop\'s result, the target closed, the signals given back', async () => {
    const c = counted();
    expect(await driveOwningSignals('replay', io(), c.make, loop)).toBe(10);
    expect(c.sent()).toBe(10);
    expect(c.closed()).toBe(true);
    expect(shutdownOwned()).toBe(false);
  });

  it('a real SIGTERM at packet 3: the packet in flight finishes, no 4th packet, target closed, exit 143 in one line', async () => {
    const c = counted((n) => void (n === 3 && process.emit('SIGTERM', 'SIGTERM')));
    const x = io();
    const e = await driveOwningSignals('replay', x, c.make, loop).then(() => null, (err: unknown) => err);
    expect((e as { code?: string }).code).toBe('CTO_INTERRUPTED');
    expect(c.sent()).toBe(3);
    expect(c.closed()).toBe(true);
    expect(shutdownOwned()).toBe(false);
    expect(reportError('replay', e, x)).toBe(143);
    expect(x.e).toContain('ctoffload replay: interrupted: stopped before the next packet, target closed\n');
    expect(x.e).not.toMatch(/\n\s+at /);
  });

  it('a start-up that fails under the signal is the interruption (130); one that fails without a signal keeps its error', async () => {
    const ac = new AbortController();
    const e1 = await driveOwningSignals('replay', io(), async () => {
      ac.abort();
      throw new CtoffloadError('CTO_OVS_START', 'ovs-vswitchd exited during start-up');
    }, loop, ac.signal).then(() => null, (err: unknown) => err);
    expect(reportError('replay', e1, io())).toBe(130);
    const e2 = await driveOwningSignals('replay', io(), async () => {
      throw new CtoffloadError('CTO_OVS_START', 'ovs-vswitchd exited during start-up');
    }, loop).then(() => null, (err: unknown) => err);
    expect((e2 as { code?: string }).code).toBe('CTO_OVS_START');
    expect(reportError('replay', e2, io())).toBe(3);
    expect(shutdownOwned()).toBe(false);
  });
});
