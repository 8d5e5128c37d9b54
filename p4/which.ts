/**
 * Locating the external tools of the p4 layer (simple_switch_grpc, p4c-bm2-ss, cpp): an
 * environment variable naming the binary wins (CTOFFLOAD_BMV2, CTOFFLOAD_P4C), then PATH, the
 * way test/support/tools.ts `findTool` gates the integration suites.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { P4Error } from './errors.js';

/** Absolute path of an executable `cmd` on PATH, or null. */
export function whichSync(cmd: string, path = process.env.PATH ?? ''): string | null {
  if (cmd.includes('/')) return isExecutable(cmd) ? resolve(cmd) : null;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    if (isExecutable(p)) return isAbsolute(p) ? p : resolve(p);
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The binary for `cmd`: `explicit` if given, else `$envVar` if set, else PATH. Throws
 * CTO_TOOL_MISSING naming what was tried and how to install it.
 */
export function findExecutable(cmd: string, opts: { explicit?: string; envVar?: string; install?: string } = {}): string {
  const fromEnv = opts.envVar ? process.env[opts.envVar] : undefined;
  const chosen = opts.explicit ?? fromEnv;
  if (chosen) {
    const found = whichSync(chosen);
    if (found) return found;
    const origin = opts.explicit ? 'given path' : `$${opts.envVar}`;
    throw new P4Error('CTO_TOOL_MISSING', `${cmd}: ${origin} '${chosen}' is not an executable file`);
  }
  const found = whichSync(cmd);
  if (found) return found;
  const env = opts.envVar ? ` or set ${opts.envVar} to its path` : '';
  const how = opts.install ? ` (${opts.install})` : '';
  throw new P4Error('CTO_TOOL_MISSING', `${cmd} not found on PATH${env}${how}`);
}
