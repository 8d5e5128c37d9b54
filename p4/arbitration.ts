/**
 * Client-side arbitration state (P4Runtime spec §5, §16.2; docs/p4-target-interfaces.md §4.1),
 * kept apart from gRPC so it can be unit-tested without a server: feed it the messages the
 * stream delivers and it says whether we are primary.
 *
 * - The client opens StreamChannel and sends MasterArbitrationUpdate{device_id, role?, election_id}.
 * - The server answers every client: status OK → primary, ALREADY_EXISTS → backup,
 *   NOT_FOUND → no primary at all; `election_id` in the answer is the primary's (highest seen).
 *   It sends a new update whenever primaryship changes (PI promotes the next-highest live
 *   client at once when the primary leaves).
 * - The stream ending ends the session: we are no longer primary. A bad first update ends it
 *   with NOT_FOUND (unknown device), INVALID_ARGUMENT (duplicate election id),
 *   RESOURCE_EXHAUSTED (too many streams) or FAILED_PRECONDITION (device/role changed).
 */
import { P4Error, codeName } from './errors.js';
import type { MasterArbitrationUpdate, Uint128 } from './messages.js';

export type ArbitrationRole = 'idle' | 'pending' | 'primary' | 'backup' | 'no-primary' | 'ended';

/** An election id as a 128-bit unsigned bigint or as its two 64-bit halves. */
export type ElectionId = bigint | { high: bigint | number; low: bigint | number };

const U64 = (1n << 64n) - 1n;

export function electionIdToBigInt(id: ElectionId): bigint {
  const v = typeof id === 'bigint' ? id : (BigInt(id.high) << 64n) | BigInt(id.low);
  if (v < 0n || v >> 128n !== 0n) throw new P4Error('CTO_P4RT_ELECTION_ID', `election id ${v} is not a 128-bit unsigned number`);
  if (typeof id !== 'bigint' && (BigInt(id.low) > U64 || BigInt(id.low) < 0n)) throw new P4Error('CTO_P4RT_ELECTION_ID', 'election id low half does not fit 64 bits');
  return v;
}

export function toUint128(id: ElectionId): { high: bigint; low: bigint } {
  const v = electionIdToBigInt(id);
  return { high: v >> 64n, low: v & U64 };
}

/** Uint128 as decoded (absent halves are 0) → bigint; undefined when the message is unset. */
export function fromUint128(u: Uint128 | undefined | null): bigint | undefined {
  if (!u) return undefined;
  return ((u.high ?? 0n) << 64n) | (u.low ?? 0n);
}

export interface ArbitrationEvent {
  role: ArbitrationRole;
  previous: ArbitrationRole;
  /** Our election id. */
  electionId: bigint;
  /** The primary's election id as the server reports it (undefined if none yet). */
  primaryElectionId?: bigint;
  /** google.rpc code and message of the update (or of the stream end). */
  code: number;
  message: string;
}

export class ArbitrationState {
  private role_: ArbitrationRole = 'idle';
  private primaryId: bigint | undefined;
  private electionId_: bigint;
  private lastCode = 0;
  private lastMessage = '';

  constructor(
    readonly deviceId: bigint,
    electionId: ElectionId,
    readonly roleName = '',
  ) {
    if (deviceId === 0n) {
      // Spec §5.1 (clarified in v1.5.0): device_id must be non-zero. PI accepts 0; we do not.
      throw new P4Error('CTO_P4RT_DEVICE_ID', 'device_id must be non-zero (P4Runtime spec §5.1)');
    }
    this.electionId_ = electionIdToBigInt(electionId);
  }

  get role(): ArbitrationRole {
    return this.role_;
  }

  get isPrimary(): boolean {
    return this.role_ === 'primary';
  }

  get electionId(): bigint {
    return this.electionId_;
  }

  get primaryElectionId(): bigint | undefined {
    return this.primaryId;
  }

  /** The arbitration message to send first on a (new) stream, or to re-arbitrate with another id. */
  request(electionId?: ElectionId): MasterArbitrationUpdate {
    if (electionId !== undefined) this.electionId_ = electionIdToBigInt(electionId);
    if (this.role_ === 'idle' || this.role_ === 'ended') this.role_ = 'pending';
    const msg: MasterArbitrationUpdate = { deviceId: this.deviceId, electionId: toUint128(this.electionId_) };
    // Default role: omit `role` altogether (spec §5.1).
    if (this.roleName) msg.role = { name: this.roleName };
    return msg;
  }

  /** Apply an arbitration update from the server; returns the event to publish (always one). */
  onUpdate(msg: MasterArbitrationUpdate): ArbitrationEvent {
    const previous = this.role_;
    if (msg.deviceId !== undefined && msg.deviceId !== this.deviceId) {
      throw new P4Error('CTO_P4RT_ARBITRATION', `arbitration update for device ${msg.deviceId}, expected ${this.deviceId}`);
    }
    const code = msg.status?.code ?? 0;
    this.lastCode = code;
    this.lastMessage = msg.status?.message ?? '';
    this.primaryId = fromUint128(msg.electionId);
    switch (code) {
      case 0:
        this.role_ = 'primary';
        break;
      case 6: // ALREADY_EXISTS: someone else (higher id) is primary
        this.role_ = 'backup';
        break;
      case 5: // NOT_FOUND: no primary at all (spec §5.4)
        this.role_ = 'no-primary';
        this.primaryId = undefined;
        break;
      default:
        throw new P4Error('CTO_P4RT_ARBITRATION', `unexpected arbitration status ${codeName(code)} (${code}): ${this.lastMessage}`);
    }
    // A server that says OK must agree that the primary is us.
    if (this.role_ === 'primary' && this.primaryId !== undefined && this.primaryId !== this.electionId_) {
      throw new P4Error('CTO_P4RT_ARBITRATION', `server says primary but reports election id ${this.primaryId}, ours is ${this.electionId_}`);
    }
    return this.event(previous);
  }

  /** The stream ended (by us or the server): the session and any primaryship are over. */
  onStreamEnd(code: number, message: string): ArbitrationEvent {
    const previous = this.role_;
    this.role_ = 'ended';
    this.primaryId = undefined;
    this.lastCode = code;
    this.lastMessage = message;
    return this.event(previous);
  }

  private event(previous: ArbitrationRole): ArbitrationEvent {
    const ev: ArbitrationEvent = { role: this.role_, previous, electionId: this.electionId_, code: this.lastCode, message: this.lastMessage };
    if (this.primaryId !== undefined) ev.primaryElectionId = this.primaryId;
    return ev;
  }
}
