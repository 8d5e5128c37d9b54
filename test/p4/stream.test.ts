import { describe, expect, it } from 'vitest';
import { BoundedQueue } from '../../p4/stream.js';

describe('BoundedQueue', () => {
  it('delivers in order to waiting and later readers', async () => {
    const q = new BoundedQueue<number>(4);
    const early = q.next();
    q.push(1);
    q.push(2);
    q.push(3);
    expect(await early).toBe(1);
    expect(q.length).toBe(2);
    q.close();
    const seen: number[] = [];
    for await (const v of q) seen.push(v);
    expect(seen).toEqual([2, 3]);
    expect(await q.next()).toBeUndefined();
  });

  it('drops the oldest items when full and counts them', () => {
    const q = new BoundedQueue<number>(3);
    for (let i = 0; i < 10; i++) q.push(i);
    expect(q.dropped).toBe(7);
    expect([q.poll(), q.poll(), q.poll(), q.poll()]).toEqual([7, 8, 9, undefined]);
  });

  it('times out a read instead of waiting forever, and close(error) fails readers', async () => {
    const q = new BoundedQueue<number>(2);
    await expect(q.next(10)).rejects.toMatchObject({ code: 'CTO_P4RT_TIMEOUT' });
    const pending = q.next();
    q.close(new Error('stream gone'));
    await expect(pending).rejects.toThrow('stream gone');
    q.push(5); // ignored after close
    expect(q.length).toBe(0);
  });
});
