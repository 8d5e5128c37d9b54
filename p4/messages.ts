/**
 * TypeScript shapes of the P4Runtime messages ctoffload builds and reads, as plain objects in
 * the conventions of p4/proto.ts: lowerCamelCase names, 64-bit integers as `bigint`, enums as
 * names, bytes as `Uint8Array`, absent scalars `undefined`, oneofs as optional members (decoded
 * messages also carry the oneof's name, e.g. `entity: 'tableEntry'`). Field numbers and
 * meanings: p4/proto/p4/v1/p4runtime.proto (docs/p4-target-interfaces.md §1).
 */

export interface Uint128 {
  high?: bigint;
  low?: bigint;
}

export type UpdateType = 'UNSPECIFIED' | 'INSERT' | 'MODIFY' | 'DELETE';

export interface FieldMatch {
  fieldId: number;
  exact?: { value: Uint8Array };
  ternary?: { value: Uint8Array; mask: Uint8Array };
  lpm?: { value: Uint8Array; prefixLen: number };
  range?: { low: Uint8Array; high: Uint8Array };
  optional?: { value: Uint8Array };
  other?: Any;
  fieldMatchType?: 'exact' | 'ternary' | 'lpm' | 'range' | 'optional' | 'other';
}

export interface Any {
  typeUrl?: string;
  value?: Uint8Array;
}

export interface ActionParam {
  paramId: number;
  value: Uint8Array;
}

export interface Action {
  actionId: number;
  params?: ActionParam[];
}

export interface TableAction {
  action?: Action;
  actionProfileMemberId?: number;
  actionProfileGroupId?: number;
  actionProfileActionSet?: { actionProfileActions?: { action?: Action; weight?: number; watchPort?: Uint8Array }[] };
  type?: string;
}

export interface CounterData {
  byteCount?: bigint;
  packetCount?: bigint;
}

export interface MeterConfig {
  cir?: bigint;
  cburst?: bigint;
  pir?: bigint;
  pburst?: bigint;
  eburst?: bigint;
}

export interface TableEntry {
  tableId?: number;
  match?: FieldMatch[];
  action?: TableAction;
  priority?: number;
  controllerMetadata?: bigint;
  meterConfig?: MeterConfig;
  counterData?: CounterData;
  meterCounterData?: { green?: CounterData; yellow?: CounterData; red?: CounterData };
  isDefaultAction?: boolean;
  idleTimeoutNs?: bigint;
  timeSinceLastHit?: { elapsedNs?: bigint };
  metadata?: Uint8Array;
  isConst?: boolean;
}

export interface Index {
  index?: bigint;
}

export interface CounterEntry {
  counterId?: number;
  index?: Index;
  data?: CounterData;
}

export interface DirectCounterEntry {
  tableEntry?: TableEntry;
  data?: CounterData;
}

export interface MeterEntry {
  meterId?: number;
  index?: Index;
  config?: MeterConfig;
}

export interface DirectMeterEntry {
  tableEntry?: TableEntry;
  config?: MeterConfig;
}

export interface DigestEntry {
  digestId?: number;
  config?: { maxTimeoutNs?: bigint; maxListSize?: number; ackTimeoutNs?: bigint };
}

export interface Replica {
  egressPort?: number;
  port?: Uint8Array;
  instance?: number;
}

export interface PacketReplicationEngineEntry {
  multicastGroupEntry?: { multicastGroupId?: number; replicas?: Replica[]; metadata?: Uint8Array };
  cloneSessionEntry?: { sessionId?: number; replicas?: Replica[]; classOfService?: number; packetLengthBytes?: number };
}

export interface P4Data {
  bitstring?: Uint8Array;
  bool?: boolean;
  tuple?: { members?: P4Data[] };
  struct?: { members?: P4Data[] };
  header?: { isValid?: boolean; bitstrings?: Uint8Array[] };
  enum?: string;
  error?: string;
  enumValue?: Uint8Array;
  data?: string;
}

export interface Entity {
  externEntry?: { externTypeId?: number; externId?: number; entry?: Any };
  tableEntry?: TableEntry;
  actionProfileMember?: { actionProfileId?: number; memberId?: number; action?: Action };
  actionProfileGroup?: { actionProfileId?: number; groupId?: number; members?: { memberId?: number; weight?: number }[]; maxSize?: number };
  meterEntry?: MeterEntry;
  directMeterEntry?: DirectMeterEntry;
  counterEntry?: CounterEntry;
  directCounterEntry?: DirectCounterEntry;
  packetReplicationEngineEntry?: PacketReplicationEngineEntry;
  valueSetEntry?: { valueSetId?: number; members?: { match?: FieldMatch[] }[] };
  registerEntry?: { registerId?: number; index?: Index; data?: P4Data };
  digestEntry?: DigestEntry;
  /** Set on decoded messages: which member of the oneof is present. */
  entity?: string;
}

export interface Update {
  type: UpdateType;
  entity: Entity;
}

export interface PacketMetadata {
  metadataId: number;
  value: Uint8Array;
}

export interface PacketOut {
  payload: Uint8Array;
  metadata?: PacketMetadata[];
}

export interface PacketIn {
  payload?: Uint8Array;
  metadata?: PacketMetadata[];
}

export interface DigestList {
  digestId?: number;
  listId?: bigint;
  data?: P4Data[];
  timestamp?: bigint;
}

export interface IdleTimeoutNotification {
  tableEntry?: TableEntry[];
  timestamp?: bigint;
}

export interface RpcStatus {
  code?: number;
  message?: string;
  details?: Any[];
}

export interface MasterArbitrationUpdate {
  deviceId?: bigint;
  role?: { name?: string; config?: Any };
  electionId?: Uint128;
  status?: RpcStatus;
}

export interface StreamError {
  canonicalCode?: number;
  message?: string;
  space?: string;
  code?: number;
  packetOut?: { packetOut?: PacketOut };
  digestListAck?: { digestListAck?: { digestId?: number; listId?: bigint } };
  other?: { other?: Any };
  details?: string;
}

export interface StreamMessageResponse {
  arbitration?: MasterArbitrationUpdate;
  packet?: PacketIn;
  digest?: DigestList;
  idleTimeoutNotification?: IdleTimeoutNotification;
  other?: Any;
  error?: StreamError;
  update?: 'arbitration' | 'packet' | 'digest' | 'idleTimeoutNotification' | 'other' | 'error';
}

export interface StreamMessageRequest {
  arbitration?: MasterArbitrationUpdate;
  packet?: PacketOut;
  digestAck?: { digestId: number; listId: bigint };
  other?: Any;
}

/** p4.v1.Error: one per update in a failed Write's google.rpc.Status details. */
export interface P4RuntimeError {
  canonicalCode?: number;
  message?: string;
  space?: string;
  code?: number;
  details?: Any;
}

export type PipelineAction = 'VERIFY' | 'VERIFY_AND_SAVE' | 'VERIFY_AND_COMMIT' | 'COMMIT' | 'RECONCILE_AND_COMMIT';
export type PipelineResponseType = 'ALL' | 'COOKIE_ONLY' | 'P4INFO_AND_COOKIE' | 'DEVICE_CONFIG_AND_COOKIE';

export interface ForwardingPipelineConfig {
  /** Decoded P4Info (p4.config.v1.P4Info as a plain object). */
  p4info?: Record<string, unknown>;
  p4DeviceConfig?: Uint8Array;
  cookie?: { cookie?: bigint };
}
