/**
 * Minimal unixctl (ovs-appctl) client speaking OVS's JSON-RPC 1.0 over the daemon's control
 * socket (`<rundir>/ovs-vswitchd.<pid>.ctl`), as lib/unixctl.c `unixctl_client_transact` does:
 * request `{"id":N,"method":"time/warp","params":["100"]}`, reply `{"id":N,"result":"…",
 * "error":null}` or `{"id":N,"result":null,"error":"…"}`; messages are bare JSON values
 * back to back on the stream (lib/jsonrpc.c). One persistent connection replaces an ovs-appctl
 * fork per packet (netdev-dummy/receive, time/warp), which is where most of the per-packet
 * cost would otherwise go. Requests are answered in order by the daemon's main thread.
 */
import { createConnection, type Socket } from 'node:net';
import { OvsError } from './errors.js';

interface Pending {
  id: number;
  what: string;
  resolve: (s: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class UnixctlClient {
  private sock: Socket | null = null;
  private nextId = 0;
  private pending = new Map<number, Pending>();
  private buf = '';
  private closedError: Error | null = null;

  private constructor(readonly path: string) {}

  static async connect(path: string, timeoutMs: number): Promise<UnixctlClient> {
    const c = new UnixctlClient(path);
    await new Promise<void>((resolve, reject) => {
      const s = createConnection(path);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new OvsError('CTO_OVS_TIMEOUT', `unixctl ${path}: connect timed out`, path));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        c.sock = s;
        resolve();
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(new OvsError('CTO_OVS_COMMAND', `unixctl ${path}: ${e.message}`, path));
      });
    });
    const s = c.sock!;
    s.setEncoding('utf8');
    s.on('data', (d: string) => c.onData(d));
    s.on('error', (e) => c.fail(new OvsError('CTO_OVS_EXIT', `unixctl ${path}: ${e.message}`, path)));
    s.on('close', () => c.fail(new OvsError('CTO_OVS_EXIT', `unixctl ${path}: connection closed by the daemon`, path)));
    return c;
  }

  /** Run one command; resolves with its text result, rejects with the daemon's error text. */
  call(method: string, params: readonly string[], timeoutMs: number): Promise<string> {
    const what = [method, ...params].join(' ');
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new OvsError('CTO_OVS_TIMEOUT', `ovs-appctl ${what}: no reply within ${timeoutMs} ms`, what));
      }, timeoutMs);
      this.pending.set(id, { id, what, resolve, reject, timer });
      this.sock!.write(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.fail(new OvsError('CTO_OVS_STATE', `unixctl ${this.path}: closed`, this.path));
    this.sock?.destroy();
    this.sock = null;
  }

  private fail(e: Error): void {
    if (!this.closedError) this.closedError = e;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }

  private onData(d: string): void {
    this.buf += d;
    for (;;) {
      const end = jsonValueEnd(this.buf);
      if (end < 0) return;
      const text = this.buf.slice(0, end);
      this.buf = this.buf.slice(end).replace(/^\s+/, '');
      let msg: { id?: unknown; result?: unknown; error?: unknown; method?: unknown };
      try {
        msg = JSON.parse(text) as typeof msg;
      } catch {
        this.fail(new OvsError('CTO_OVS_PROTOCOL', `unixctl ${this.path}: unparsable reply ${text.slice(0, 200)}`));
        return;
      }
      if (typeof msg.id !== 'number') continue; // notifications: none expected
      const p = this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error !== null && msg.error !== undefined) {
        const detail = String(msg.error).trim();
        p.reject(new OvsError('CTO_OVS_COMMAND', `ovs-appctl ${p.what}: ${detail}`, p.what, detail));
      } else {
        p.resolve(typeof msg.result === 'string' ? msg.result : JSON.stringify(msg.result));
      }
    }
  }
}

/** Index just past the first complete JSON object/array in `s` (leading spaces allowed), or -1. */
export function jsonValueEnd(s: string): number {
  let i = 0;
  while (i < s.length && /\s/.test(s[i]!)) i++;
  if (i >= s.length) return -1;
  let depth = 0;
  let inStr = false;
  for (; i < s.length; i++) {
    const ch = s[i];
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
