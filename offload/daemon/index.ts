/**
 * `ctoffload controller`'s core: the slow-path controller as a daemon for a P4Runtime target
 * (./daemon.ts), its session-spanning device (./device.ts), pipeline push/attach and static
 * entries (./pipeline.ts), and its Prometheus endpoint (./metrics.ts).
 */
export * from './pipeline.js';
export * from './device.js';
export * from './daemon.js';
export * from './metrics.js';
