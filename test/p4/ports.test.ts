import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts } from '../../p4/ports.js';

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('free port picking', () => {
  it('gives distinct ports that can be bound', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
    for (const p of ports) {
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThan(65536);
      expect(await canListen(p)).toBe(true);
    }
  });

  it('never hands out the same port twice in a row (several switches starting at once)', async () => {
    const all = (await Promise.all(Array.from({ length: 10 }, () => freePorts(3)))).flat();
    all.push(await freePort());
    expect(new Set(all).size).toBe(all.length);
  });
});
