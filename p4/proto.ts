/**
 * Protocol definitions: every `.proto` file under `<package root>/p4/proto`, loaded once with
 * protobufjs, and @grpc/grpc-js clients whose (de)serializers are protobufjs encode/decode.
 *
 * Conventions for every message that crosses this module (decided once, used by all of p4/):
 * - Field names are lowerCamelCase (protobufjs default, and what proto3 JSON / p4c's P4Info JSON
 *   use: `tableId`, `matchFields`, `electionId`).
 * - 64-bit integers (device_id, Uint128.high/low, idle_timeout_ns, counter values, list_id…)
 *   decode to `bigint`, exactly (no `Long` ever reaches a caller). On input protobufjs accepts
 *   bigint, number or decimal string (long.js `Long.fromValue` takes all three).
 * - Enums decode to their names (`'INSERT'`, `'EXACT'`); numbers and names are both accepted on input.
 * - bytes decode to `Uint8Array` (Node Buffers); absent scalars are `undefined` (proto3 defaults
 *   are not filled in, so "unset" stays visible), repeated fields are always arrays, and a set
 *   oneof also names itself in a virtual property (`entity: 'tableEntry'`).
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import * as grpc from '@grpc/grpc-js';
import type { ServiceClient } from '@grpc/grpc-js/build/src/make-client.js';
import { P4Error } from './errors.js';

export type { ServiceClient };

export type { Root, Type, Service } from 'protobufjs';

/** toObject options used for every decoded message (see the module comment). */
export const DECODE_OPTIONS: protobuf.IConversionOptions = {
  longs: BigInt as unknown as Function,
  enums: String,
  defaults: false,
  arrays: true,
  oneofs: true,
};

let cachedDir: string | undefined;
let cachedRoot: protobuf.Root | undefined;

/**
 * Directory holding the .proto files: `<dir with package.json named "ctoffload">/p4/proto`,
 * found by walking up from this module, so it works from sources (p4/proto.ts under vitest)
 * and from the build (dist/p4/proto.js) without copying protos into dist.
 */
export function protoDir(): string {
  if (cachedDir) return cachedDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name;
        if (name === 'ctoffload' && existsSync(join(dir, 'p4', 'proto'))) return (cachedDir = join(dir, 'p4', 'proto'));
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new P4Error('CTO_P4_PROTO', `cannot find the ctoffload package root (p4/proto) above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Every .proto file under `dir`, as paths relative to it with '/' separators, sorted. */
export function listProtoFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.proto')) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Parse every .proto file under `dir` into one Root. Files are parsed directly (not through
 * Root.load) so that our own google/protobuf/any.proto is used rather than protobufjs's bundled
 * copy, and imports need no path resolution: everything is loaded anyway.
 */
export function loadProtoDir(dir: string, options: protobuf.IParseOptions = {}): protobuf.Root {
  const root = new protobuf.Root();
  for (const file of listProtoFiles(dir)) {
    try {
      protobuf.parse(readFileSync(join(dir, file), 'utf8'), root, { keepCase: false, ...options });
    } catch (e) {
      throw new P4Error('CTO_P4_PROTO', `${join(dir, file)}: ${(e as Error).message}`, { cause: e });
    }
    root.files.push(file);
  }
  root.resolveAll();
  return root;
}

/** The Root of every protocol definition under p4/proto, loaded once. */
export function protoRoot(): protobuf.Root {
  return (cachedRoot ??= loadProtoDir(protoDir()));
}

/** A message type by full name (`p4.v1.WriteRequest`); throws CTO_P4_PROTO if absent. */
export function protoType(fullName: string): protobuf.Type {
  const t = protoRoot().lookup(fullName);
  if (!(t instanceof protobuf.Type)) throw new P4Error('CTO_P4_PROTO', `no message type '${fullName}' in p4/proto`);
  return t;
}

/** An enum by full name (`p4.config.v1.MatchField.MatchType`). */
export function protoEnum(fullName: string): protobuf.Enum {
  const t = protoRoot().lookup(fullName);
  if (!(t instanceof protobuf.Enum)) throw new P4Error('CTO_P4_PROTO', `no enum '${fullName}' in p4/proto`);
  return t;
}

/** Plain object (see conventions) → wire bytes. Throws CTO_P4_PROTO on a malformed object. */
export function encodeMessage(type: string | protobuf.Type, value: object): Uint8Array {
  const t = typeof type === 'string' ? protoType(type) : type;
  let msg: protobuf.Message;
  try {
    msg = t.fromObject(value as Record<string, unknown>);
  } catch (e) {
    throw new P4Error('CTO_P4_PROTO', `cannot encode ${t.fullName.replace(/^\./, '')}: ${(e as Error).message}`, { cause: e });
  }
  return t.encode(msg).finish();
}

/** Wire bytes → plain object (see conventions). Throws CTO_P4_PROTO on malformed bytes. */
export function decodeMessage<T = Record<string, unknown>>(type: string | protobuf.Type, bytes: Uint8Array): T {
  const t = typeof type === 'string' ? protoType(type) : type;
  try {
    return t.toObject(t.decode(bytes), DECODE_OPTIONS) as T;
  } catch (e) {
    throw new P4Error('CTO_P4_PROTO', `cannot decode ${t.fullName.replace(/^\./, '')}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * grpc-js service definition for a service of the Root: one entry per RPC under its proto name
 * (`Write`, `StreamChannel`), with `originalName` the lowerCamel alias (`write`).
 */
export function serviceDefinition(serviceFullName: string): grpc.ServiceDefinition {
  const svc = protoRoot().lookup(serviceFullName);
  if (!(svc instanceof protobuf.Service)) throw new P4Error('CTO_P4_PROTO', `no service '${serviceFullName}' in p4/proto`);
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  const svcName = serviceFullName.replace(/^\./, '');
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    def[m.name] = {
      path: `/${svcName}/${m.name}`,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      requestSerialize: (v: object) => Buffer.from(encodeMessage(req, v)),
      requestDeserialize: (b: Buffer) => decodeMessage(req, b),
      responseSerialize: (v: object) => Buffer.from(encodeMessage(res, v)),
      responseDeserialize: (b: Buffer) => decodeMessage(res, b),
      originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
    };
  }
  return def;
}

export interface GrpcClientOptions {
  /** Default: insecure (bmv2 and the tests use plain TCP on loopback). */
  credentials?: grpc.ChannelCredentials;
  /** Extra channel options, e.g. `grpc.max_receive_message_length`. */
  channelOptions?: Partial<grpc.ChannelOptions>;
}

/** Channel options every ctoffload client uses unless overridden. */
export const DEFAULT_CHANNEL_OPTIONS: Partial<grpc.ChannelOptions> = {
  // PI answers a Read with one ReadResponse holding everything (docs/p4-target-interfaces.md §3): allow large replies.
  'grpc.max_receive_message_length': 256 * 1024 * 1024,
  'grpc.max_send_message_length': 256 * 1024 * 1024,
  // A local switch that is restarting should be retried quickly rather than after grpc's 1 s,
  // ×1.6 backoff (docs/p4-target-interfaces.md §5.2).
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
};

/**
 * A @grpc/grpc-js client for `serviceFullName` (e.g. `p4.v1.P4Runtime`, `p4.bm.DataplaneInterface`)
 * at `address`, on its own channel. Methods are the RPC names (`client.Write(req, meta, opts, cb)`)
 * with lowerCamel aliases; requests and responses are plain objects (see conventions).
 */
export function makeGrpcClient(serviceFullName: string, address: string, options: GrpcClientOptions = {}): ServiceClient {
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(serviceFullName), serviceFullName.replace(/^\./, ''));
  return new Ctor(address, options.credentials ?? grpc.credentials.createInsecure(), {
    ...DEFAULT_CHANNEL_OPTIONS,
    ...options.channelOptions,
  });
}
