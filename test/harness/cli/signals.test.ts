/**
 * The one owner of SIGINT/SIGTERM (harness/cli/signals.ts): `runOwningSignals` turns whatever a
 * signal cut short into 130/143 and gives the signals back however the command ends;
 * `stopBeforeNextPacket` stops a packet loop that does not watch the signal before its next
 * packet and lets close() and the target's own extras through. Real process signals go through
 * `process.emit`, i.e. every listener the process has, as a kill(2) would.
 */
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../../harness/cli/command.js';
import { runOwningSignals, shutdownOwned, stopBeforeNextPacket } from '../../../harness/cli/signals.js';
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
