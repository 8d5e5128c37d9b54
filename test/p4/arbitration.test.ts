import { describe, expect, it } from 'vitest';
import { ArbitrationState, electionIdToBigInt, fromUint128, toUint128 } from '../../p4/arbitration.js';

const status = (code: number, message = '') => ({ code, message });

describe('election ids', () => {
  it('converts between bigint and Uint128 halves', () => {
    const id = (5n << 64n) | 7n;
    expect(toUint128(id)).toEqual({ high: 5n, low: 7n });
    expect(electionIdToBigInt({ high: 5, low: 7 })).toBe(id);
    expect(fromUint128({ high: 5n, low: 7n })).toBe(id);
    expect(fromUint128({ low: 3n })).toBe(3n); // absent half decodes as 0
    expect(fromUint128(undefined)).toBeUndefined(); // unset ≠ {0,0} (spec §16.2.1)
    expect(fromUint128({})).toBe(0n);
    expect(() => electionIdToBigInt(1n << 128n)).toThrow(/128-bit/);
    expect(() => electionIdToBigInt(-1n)).toThrow(/128-bit/);
  });
});

describe('ArbitrationState (spec §5; PI sequence of docs/p4-target-interfaces.md §4.1)', () => {
  it('sends device id and election id, omits the default role', () => {
    const a = new ArbitrationState(1n, 10n);
    expect(a.role).toBe('idle');
    expect(a.request()).toEqual({ deviceId: 1n, electionId: { high: 0n, low: 10n } });
    expect(a.role).toBe('pending');
    expect(new ArbitrationState(1n, 1n, 'ctl').request().role).toEqual({ name: 'ctl' });
    expect(() => new ArbitrationState(0n, 1n)).toThrow(/non-zero/);
  });

  it('follows the observed PI sequence A(10) → B(5) → C(20) → C leaves', () => {
    const a = new ArbitrationState(1n, 10n);
    const b = new ArbitrationState(1n, 5n);
    a.request();
    b.request();
    // A alone: primary.
    let ev = a.onUpdate({ deviceId: 1n, electionId: { low: 10n }, status: status(0, 'Is primary') });
    expect(ev).toMatchObject({ role: 'primary', previous: 'pending', primaryElectionId: 10n, code: 0 });
    expect(a.isPrimary).toBe(true);
    // B joins with a lower id: backup, told the primary's id.
    ev = b.onUpdate({ deviceId: 1n, electionId: { low: 10n }, status: status(6, 'Is backup') });
    expect(ev).toMatchObject({ role: 'backup', primaryElectionId: 10n, electionId: 5n });
    expect(b.isPrimary).toBe(false);
    // C (20) joins: A and B both become/stay backup with primary id 20.
    ev = a.onUpdate({ deviceId: 1n, electionId: { low: 20n }, status: status(6) });
    expect(ev).toMatchObject({ role: 'backup', previous: 'primary', primaryElectionId: 20n });
    expect(a.isPrimary).toBe(false);
    expect(b.onUpdate({ deviceId: 1n, electionId: { low: 20n }, status: status(6) }).role).toBe('backup');
    // C half-closes: PI promotes A at once.
    ev = a.onUpdate({ deviceId: 1n, electionId: { low: 10n }, status: status(0, 'Is primary') });
    expect(ev).toMatchObject({ role: 'primary', previous: 'backup', primaryElectionId: 10n });
  });

  it('handles no-primary, stream end and re-arbitration', () => {
    const a = new ArbitrationState(3n, { high: 1, low: 0 });
    a.request();
    expect(a.onUpdate({ deviceId: 3n, status: status(5, 'no primary') })).toMatchObject({ role: 'no-primary' });
    expect(a.primaryElectionId).toBeUndefined();
    a.onUpdate({ deviceId: 3n, electionId: { high: 1n }, status: status(0) });
    expect(a.isPrimary).toBe(true);
    const end = a.onStreamEnd(3, 'Election id already exists');
    expect(end).toMatchObject({ role: 'ended', previous: 'primary', code: 3, message: 'Election id already exists' });
    expect(a.isPrimary).toBe(false);
    // A new stream re-sends arbitration, possibly with another id.
    expect(a.request(99n)).toEqual({ deviceId: 3n, electionId: { high: 0n, low: 99n } });
    expect(a.role).toBe('pending');
    expect(a.electionId).toBe(99n);
  });

  it('rejects inconsistent server messages', () => {
    const a = new ArbitrationState(1n, 10n);
    a.request();
    expect(() => a.onUpdate({ deviceId: 2n, status: status(0) })).toThrow(/device 2, expected 1/);
    expect(() => a.onUpdate({ deviceId: 1n, electionId: { low: 11n }, status: status(0) })).toThrow(/reports election id 11, ours is 10/);
    expect(() => a.onUpdate({ deviceId: 1n, status: status(13, 'boom') })).toThrow(/unexpected arbitration status INTERNAL \(13\): boom/);
  });
});
