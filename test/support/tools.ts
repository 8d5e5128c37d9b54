/**
 * Gate for integration suites that need a real tool (bmv2, p4c, ovs-vswitchd, nanocat).
 * Absent tool: the suite is skipped with one loud line. With CTOFFLOAD_REQUIRE_TARGETS=1 an
 * absent tool is a failure instead, so CI cannot go green by skipping.
 */
import { execFileSync } from 'node:child_process';
import { describe, it } from "vitest";

const cache = new Map<string, string | null>();

/** Path of `cmd` from the environment variable `envVar` or PATH, or null. */
export function findTool(cmd: string, envVar?: string): string | null {
  const key = `${cmd}|${envVar ?? ''}`;
  if (cache.has(key)) return cache.get(key)!;
  let found: string | null = null;
  const fromEnv = envVar ? process.env[envVar] : undefined;
  if (fromEnv) found = fromEnv;
  else {
    try {
      found = execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
    } catch {
      found = null;
    }
  }
  cache.set(key, found);
  return found;
}

export const requireTargets = process.env.CTOFFLOAD_REQUIRE_TARGETS === '1';

/**
 * `describe` when every tool is present; otherwise a skipped suite and one loud line on stderr,
 * or (CTOFFLOAD_REQUIRE_TARGETS=1) a suite whose single test fails naming the missing tools.
 */
export function describeWithTools(
  name: string,
  tools: { cmd: string; env?: string; install: string }[],
  body: () => void,
): void {
  const missing = tools.filter((t) => !findTool(t.cmd, t.env));
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const what = missing.map((t) => `${t.cmd} (${t.install})`).join(', ');
  if (requireTargets) {
    describe(name, () => {
      it(`requires ${what}`, () => {
        throw new Error(`CTOFFLOAD_REQUIRE_TARGETS=1 but missing: ${what}`);
      });
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPED "${name}": missing ${what} ***\n`);
  describe.skip(name, body);
}

