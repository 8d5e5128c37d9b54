/**
 * Free TCP port picking for switches started side by side. bmv2 prints the address it was given,
 * not the one it bound, so port 0 cannot be used to discover an ephemeral port (docs/p4-target-interfaces.md §5.2): ports
 * are chosen here first, then passed on the command line. Each pick binds port 0 on the host,
 * reads the number the kernel chose and closes; several ports for one switch are held open
 * together so they differ, and every port handed out is remembered for a while so two switches
 * started by this process at the same moment never get the same one (the kernel may hand a just
 * closed port out again).
 */
import { createServer, type Server } from 'node:net';

/** Ports handed out by this process recently (port → time handed out, ms). */
const recent = new Map<number, number>();
/** How long a handed-out port is not handed out again (long enough for a switch to bind it). */
const RECENT_MS = 60_000;

function listen0(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen({ port: 0, host, exclusive: true }, () => resolve(s));
  });
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/**
 * `count` distinct free TCP ports on `host` (default 127.0.0.1), none handed out by this process
 * in the last minute. Free when picked: another process may still take one before the switch
 * binds it, which the caller sees as a failed start.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const now = Date.now();
  for (const [p, t] of recent) if (now - t > RECENT_MS) recent.delete(p);
  const held: Server[] = [];
  const out: number[] = [];
  try {
    // Bounded: the kernel's ephemeral range holds thousands of ports; `recent` holds few.
    for (let tries = 0; out.length < count; tries++) {
      if (tries > count + 256) throw new Error(`cannot find ${count} free TCP ports on ${host}`);
      const s = await listen0(host);
      held.push(s);
      const port = (s.address() as { port: number }).port;
      if (recent.has(port) || out.includes(port)) continue;
      out.push(port);
    }
  } finally {
    await Promise.all(held.map(closeServer));
  }
  for (const p of out) recent.set(p, now);
  return out;
}

/** One free TCP port (see freePorts). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return (await freePorts(1, host))[0]!;
}
