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

/** The real tools the integration suites need, with how to get each (one place for the hints). */
export const BMV2_TOOL = { cmd: 'simple_switch_grpc', env: 'CTOFFLOAD_BMV2', install: 'build p4lang/behavioral-model with PI (see README)' };
export const P4C_TOOL = { cmd: 'p4c-bm2-ss', env: 'CTOFFLOAD_P4C', install: 'build p4lang/p4c (see README)' };
export const OVS_TOOL = { cmd: 'ovs-vswitchd', install: 'apt-get install openvswitch-switch' };
export const NANOCAT_TOOL = { cmd: 'nanocat', install: 'apt-get install nanomsg-utils' };

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
  describeWhen(name, missing.length ? missing.map((t) => `${t.cmd} (${t.install})`).join(', ') : null, body);
}

/**
 * The one gate behind describeWithTools, also for inputs that are not commands (reference
 * files): `missing` null runs the suite; otherwise one loud line and a skipped suite, or, when
 * the input is required by CTOFFLOAD_REQUIRE_TARGETS=1 (`requiredByTargets`, default true), a
 * failing test naming what is missing. Optional references pass `requiredByTargets: false`.
 */
export function describeWhen(name: string, missing: string | null, body: () => void, opts: { requiredByTargets?: boolean } = {}): void {
  if (missing === null) {
    describe(name, body);
    return;
  }
  if (requireTargets && opts.requiredByTargets !== false) {
    describe(name, () => {
      it(`requires ${missing}`, () => {
        throw new Error(`CTOFFLOAD_REQUIRE_TARGETS=1 but missing: ${missing}`);
      });
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPED "${name}": missing ${missing} ***\n`);
  describe.skip(name, body);
}
