/**
 * A bounded queue read as an async iterable: one per stream message kind (PacketIn, digests,
 * idle-timeout notifications, stream errors, arbitration), as p4runtime-shell sorts its
 * StreamChannel messages into separate queues (docs/style.md §2).
 *
 * Bounded because the server keeps sending whether or not anybody reads: when full, the oldest
 * item is dropped and counted in `dropped` (a controller that falls behind loses old PacketIns,
 * as a NIC ring would, instead of growing without limit). A fixed circular buffer, power-of-two
 * size with a mask (undici's fixed-queue.js shape, docs/style.md §5).
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  private readonly buf: (T | undefined)[];
  private readonly mask: number;
  private head = 0;
  private tail = 0;
  private waiters: ((r: IteratorResult<T>) => void)[] = [];
  private failWaiters: ((e: unknown) => void)[] = [];
  private closed = false;
  private error: unknown = undefined;
  /** Items dropped because the queue was full. */
  dropped = 0;

  constructor(capacity = 1024) {
    let size = 2;
    while (size < capacity + 1) size <<= 1;
    this.buf = new Array<T | undefined>(size);
    this.mask = size - 1;
  }

  get length(): number {
    return (this.tail - this.head) & this.mask;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(item: T): void {
    if (this.closed) return;
    const w = this.waiters.shift();
    if (w) {
      this.failWaiters.shift();
      w({ value: item, done: false });
      return;
    }
    if (((this.tail + 1) & this.mask) === this.head) {
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) & this.mask;
      this.dropped++;
    }
    this.buf[this.tail] = item;
    this.tail = (this.tail + 1) & this.mask;
  }

  /** Next item without waiting, or undefined. */
  poll(): T | undefined {
    if (this.head === this.tail) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    return v;
  }

  /**
   * Next item; waits up to `timeoutMs` (then rejects with a timeout error) — never forever
   * unless no timeout is given. Resolves undefined once the queue is closed and drained.
   */
  next(timeoutMs?: number): Promise<T | undefined> {
    const v = this.poll();
    if (v !== undefined) return Promise.resolve(v);
    if (this.closed) return this.error ? Promise.reject(this.error) : Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const ok = (r: IteratorResult<T>): void => {
        if (timer) clearTimeout(timer);
        resolve(r.done ? undefined : r.value);
      };
      const ko = (e: unknown): void => {
        if (timer) clearTimeout(timer);
        reject(e);
      };
      this.waiters.push(ok);
      this.failWaiters.push(ko);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(ok);
          if (i >= 0) {
            this.waiters.splice(i, 1);
            this.failWaiters.splice(i, 1);
          }
          reject(Object.assign(new Error(`nothing received within ${timeoutMs} ms`), { code: 'CTO_P4RT_TIMEOUT' }));
        }, timeoutMs);
      }
    });
  }

  /** End the queue: pending and later readers finish (or get `error`, if given, once drained). */
  close(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.error = error;
    const waiters = this.waiters;
    const fails = this.failWaiters;
    this.waiters = [];
    this.failWaiters = [];
    waiters.forEach((w, i) => (error ? fails[i]!(error) : w({ value: undefined, done: true })));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const v = await this.next();
      if (v === undefined) return;
      yield v;
    }
  }
}
