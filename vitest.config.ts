import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites start real daemons (bmv2, ovs-vswitchd); give them room but never hang
    // forever. Generous: a deadline that a loaded 2-core machine can hit decides nothing.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // Two cores: more workers only fight the daemons under test for CPU.
    maxWorkers: 2,
  },
});
