import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { describeWhen } from '../support/tools.js';
import {
  decodeMessage,
  encodeMessage,
  listProtoFiles,
  protoDir,
  protoRoot,
  protoType,
  serviceDefinition,
} from '../../p4/proto.js';

describe('protoRoot', () => {
  it('loads every .proto under p4/proto once', () => {
    const files = listProtoFiles(protoDir());
    for (const f of ['p4/server/v1/config.proto', 'p4/v1/p4runtime.proto', 'p4/v1/p4data.proto', 'p4/config/v1/p4info.proto', 'p4/config/v1/p4types.proto', 'google/rpc/status.proto', 'google/rpc/code.proto', 'google/protobuf/any.proto']) {
      expect(files).toContain(f);
    }
    expect(protoRoot()).toBe(protoRoot());
    expect(protoType('p4.v1.WriteRequest').fields.electionId!.id).toBe(3);
  });

  it('round-trips 64-bit ids exactly as bigint', () => {
    const max = (1n << 64n) - 1n;
    const bytes = encodeMessage('p4.v1.WriteRequest', {
      deviceId: max,
      electionId: { high: 1n, low: max - 1n },
      updates: [{ type: 'INSERT', entity: { tableEntry: { tableId: 0x02000001, idleTimeoutNs: 9_007_199_254_740_993n } } }],
    });
    const back = decodeMessage<any>('p4.v1.WriteRequest', bytes);
    expect(back.deviceId).toBe(max);
    expect(back.electionId).toEqual({ high: 1n, low: max - 1n });
    expect(back.updates[0].type).toBe('INSERT');
    expect(back.updates[0].entity.entity).toBe('tableEntry');
    expect(back.updates[0].entity.tableEntry.idleTimeoutNs).toBe(9_007_199_254_740_993n);
  });

  it('makes grpc-js method definitions with the P4Runtime paths', () => {
    const def = serviceDefinition('p4.v1.P4Runtime');
    expect(Object.keys(def).sort()).toEqual(['Capabilities', 'GetForwardingPipelineConfig', 'Read', 'SetForwardingPipelineConfig', 'StreamChannel', 'Write']);
    expect(def.Write!.path).toBe('/p4.v1.P4Runtime/Write');
    expect(def.Read!.responseStream).toBe(true);
    expect(def.StreamChannel!.requestStream && def.StreamChannel!.responseStream).toBe(true);
    const buf = def.Capabilities!.requestSerialize({ deviceId: 3n });
    expect(def.Capabilities!.requestDeserialize(buf)).toEqual({ deviceId: 3n });
  });
});

// ---------------------------------------------------------------------------------------------
// Field-by-field comparison with an installed copy of the upstream protos.

const CANDIDATES = [
  process.env.CTOFFLOAD_P4RUNTIME_PROTO_DIR,
  '/usr/local/share/p4runtime/proto',
  '/tmp/p4-toolchain-build/PI/src/proto/p4runtime/proto',
  // Not p4c's bundled copy (p4c/p4runtime/proto): it predates PI's pin and lacks fields we
  // define (PlatformProperties, Table.initial_default_action, …), so it can only be compared
  // deliberately, through CTOFFLOAD_P4RUNTIME_PROTO_DIR.
].filter((d): d is string => !!d);
const refDir = CANDIDATES.find((d) => existsSync(join(d, 'p4/v1/p4runtime.proto')));

/** Load the reference protos; imports they lack (google/rpc/status.proto…) come from ours. */
function loadReference(dir: string): protobuf.Root {
  const root = new protobuf.Root();
  const ref = listProtoFiles(dir).filter((f) => f.startsWith('p4/v1/') || f.startsWith('p4/config/v1/'));
  for (const f of ref) protobuf.parse(readFileSync(join(dir, f), 'utf8'), root, { keepCase: false });
  for (const f of listProtoFiles(protoDir())) {
    if (!ref.includes(f) && f.startsWith('google/')) protobuf.parse(readFileSync(join(protoDir(), f), 'utf8'), root, { keepCase: false });
  }
  root.resolveAll();
  return root;
}

type Shape = Map<string, string>;
/** One line per field / enum value / method: "Msg.field" → "number type label oneof". */
function shapeOf(root: protobuf.Root, scope = /^p4\.(v1|config\.v1)\./): Shape {
  const out: Shape = new Map();
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      const name = o.fullName.replace(/^\./, '');
      if (!scope.test(name)) {
        if (o instanceof protobuf.Namespace) walk(o);
        continue;
      }
      if (o instanceof protobuf.Type) {
        out.set(name, 'message');
        for (const f of o.fieldsArray) {
          const type = f.resolvedType ? f.resolvedType.fullName.replace(/^\./, '') : f.type;
          const label = f instanceof protobuf.MapField ? `map<${f.keyType}>` : f.repeated ? 'repeated' : 'singular';
          out.set(`${name}.${f.name}`, `${f.id} ${type} ${label}${f.partOf ? ` oneof:${f.partOf.name}` : ''}`);
        }
        walk(o);
      } else if (o instanceof protobuf.Enum) {
        out.set(name, 'enum');
        for (const [k, v] of Object.entries(o.values)) out.set(`${name}.${k}`, `= ${v}`);
      } else if (o instanceof protobuf.Service) {
        out.set(name, 'service');
        for (const m of o.methodsArray) out.set(`${name}.${m.name}`, `${m.requestType}${m.requestStream ? '*' : ''} -> ${m.responseType}${m.responseStream ? '*' : ''}`);
      } else if (o instanceof protobuf.Namespace) walk(o);
    }
  };
  walk(root);
  return out;
}

/**
 * Additions on p4runtime main after the revision PI and p4c pin (docs/p4-target-interfaces.md §1.9): present in ours,
 * absent from an installed PI copy. Anything else extra or missing fails the comparison.
 */
const NEWER_THAN_PI = [
  /^p4\.v1\.CapabilitiesRequest\.deviceId$/,
  /^p4\.v1\.CapabilitiesResponse\.experimental$/,
  /^p4\.v1\.ActionProfileActionSet\.(actionSelectionMode|sizeSemantics|groupAction|ActionSelectionMode|SizeSemantics)(\..*)?$/,
  /^p4\.v1\.Replica\.backupReplicas$/,
  /^p4\.v1\.BackupReplica(\..*)?$/,
  /^p4\.config\.v1\.ActionProfile\.weightsDisallowed$/,
  /^p4\.config\.v1\.ActionRef\.Scope\.GROUP_ACTION$/,
];

// Optional reference (the issue: "when a P4Runtime checkout or installed protos are available"),
// so CTOFFLOAD_REQUIRE_TARGETS does not demand it.
describeWhen(
  `protocol definitions vs installed upstream copy (${refDir ?? 'none found'})`,
  refDir ? null : `upstream protos (set CTOFFLOAD_P4RUNTIME_PROTO_DIR, or install PI: ${CANDIDATES.join(', ')})`,
  () => {
    it('match field by field (names, numbers, types, labels, oneofs, enum values, RPCs)', () => {
      const ours = shapeOf(protoRoot());
      const theirs = shapeOf(loadReference(refDir!));
      const missing: string[] = [];
      const differ: string[] = [];
      const extra: string[] = [];
      const newer: string[] = [];
      for (const [k, v] of theirs) {
        if (!ours.has(k)) missing.push(`${k} (${v})`);
        else if (ours.get(k) !== v) differ.push(`${k}: ours '${ours.get(k)}', upstream '${v}'`);
      }
      for (const k of ours.keys()) {
        if (theirs.has(k)) continue;
        (NEWER_THAN_PI.some((re) => re.test(k)) ? newer : extra).push(k);
      }
      // Reported so a reader sees what the newer-than-PI additions are.
      if (newer.length) process.stderr.write(`proto comparison: ${newer.length} definitions newer than ${refDir}: ${newer.join(', ')}\n`);
      expect({ missing, differ, extra }).toEqual({ missing: [], differ: [], extra: [] });
      expect(theirs.size).toBeGreaterThan(300);
    });
  },
  { requiredByTargets: false },
);

// google.rpc.Status / Code and google.protobuf.Any against PI's and the system's copies.
const GOOGLE_REFS = [
  ['/tmp/p4-toolchain-build/PI/src/proto/google/rpc/status.proto', '/tmp/p4-toolchain-build/PI/src/proto/google/rpc/code.proto'],
  ['/usr/include/google/protobuf/any.proto'],
].flat();
const googleRefs = GOOGLE_REFS.filter((f) => existsSync(f));
describeWhen(
  'google protos vs installed copies',
  googleRefs.length ? null : `reference copies (none of ${GOOGLE_REFS.join(', ')})`,
  () => {
    it(`match field by field (${googleRefs.join(', ')})`, () => {
      const theirs = new protobuf.Root();
      for (const f of googleRefs) protobuf.parse(readFileSync(f, 'utf8'), theirs, { keepCase: false });
      // status.proto imports any.proto: take ours if the system copy is absent.
      if (!googleRefs.some((f) => f.endsWith('any.proto'))) protobuf.parse(readFileSync(join(protoDir(), 'google/protobuf/any.proto'), 'utf8'), theirs, { keepCase: false });
      theirs.resolveAll();
      const scope = /^google\.(rpc\.(Status|Code)|protobuf\.Any)(\.|$)/;
      const a = shapeOf(protoRoot(), scope);
      const b = shapeOf(theirs, scope);
      const only = (x: Shape, y: Shape) => [...x].filter(([k, v]) => y.get(k) !== v).map(([k, v]) => `${k} ${v}`);
      expect({ oursOnly: only(a, b).filter((k) => googleRefs.some((f) => f.endsWith('any.proto')) || !k.startsWith('google.protobuf')), theirsOnly: only(b, a) }).toEqual({ oursOnly: [], theirsOnly: [] });
      expect(b.size).toBeGreaterThan(20);
    });
  },
  { requiredByTargets: false },
);
