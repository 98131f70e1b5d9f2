// The schema in proto/ and the plumbing in src/api, without containerd running:
//  - known bytes pin field numbers and types of a few messages (hand-encoded here);
//  - every containerd message and service we declare is compared with the descriptors that
//    Debian's containerd 1.6 binary carries inside it (the exact schema ctr and containerd
//    speak), field by field, both ways;
//  - a grpc-js server and client built from serviceDefinition/createClient talk to each other
//    over a unix socket in all four call shapes, with the namespace in metadata.

import * as grpc from '@grpc/grpc-js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as zlib from 'zlib';
import * as protobuf from 'protobufjs';
import {
  CONTENT,
  EVENTS,
  LEASE_METADATA_KEY,
  NAMESPACE_METADATA_KEY,
  SERVICE_NAMES,
  VERSION,
  addService,
  collect,
  createClient,
  dateOf,
  decode,
  encode,
  leaseOf,
  namespaceOf,
  packAny,
  root,
  serviceDefinition,
  timestamp,
  unpackAny,
  type ServiceImpl,
} from '../src/api';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('known bytes', () => {
  it('encodes a Descriptor with media_type=1, digest=2, size=3 (varint), annotations=5 (map entry)', () => {
    const bytes = encode('containerd.types.Descriptor', { mediaType: 'a', digest: 'sha256:x', size: 300, annotations: { k: 'v' } });
    expect(hex(bytes)).toBe(
      '0a0161' + // 1: "a"
        '1208' + Buffer.from('sha256:x').toString('hex') + // 2: "sha256:x"
        '18ac02' + // 3: 300
        '2a06' + '0a016b' + '120176', // 5: {1: "k", 2: "v"}
    );
  });

  it('decodes a containerd.v1.types.Process with the status enum (4) and exit_status at 9', () => {
    const p = decode('containerd.v1.types.Process', Buffer.from('0a016318072002480' + '9', 'hex'));
    expect(p).toEqual({
      containerId: 'c',
      id: '',
      pid: 7,
      status: 'RUNNING',
      stdin: '',
      stdout: '',
      stderr: '',
      terminal: false,
      exitStatus: 9,
      exitedAt: null,
    });
  });

  it('puts Image.created_at at 7 and DiffResponse.diff at 3 (the gaps are containerd\'s)', () => {
    expect(hex(encode('containerd.services.images.v1.Image', { name: 'n', createdAt: { seconds: 1 } }))).toBe('0a016e' + '3a020801');
    expect(hex(encode('containerd.services.diff.v1.DiffResponse', { diff: { size: 1 } }))).toBe('1a021801');
    expect(hex(encode('containerd.services.leases.v1.CreateRequest', { id: 'l', labels: { a: 'b' } }))).toBe('0a016c' + '1a06' + '0a0161120162');
    expect(hex(encode('containerd.services.tasks.v1.CreateTaskRequest', { containerId: 'c', terminal: true }))).toBe('0a0163' + '3801');
  });

  it('encodes 64-bit sizes beyond 32 bits and decodes them back as numbers', () => {
    const big = 2 ** 40 + 5;
    const bytes = encode('containerd.services.content.v1.Info', { digest: 'd', size: big });
    expect(decode<{ size: number }>('containerd.services.content.v1.Info', bytes).size).toBe(big);
    // A decimal string is accepted for int64 too.
    expect(hex(encode('containerd.services.content.v1.ReadContentRequest', { offset: '1' }))).toBe('1001');
  });

  it('encodes enums by name or number, and WriteAction COMMIT is 2', () => {
    expect(hex(encode('containerd.services.content.v1.WriteContentRequest', { action: 'COMMIT' }))).toBe('0802');
    expect(hex(encode('containerd.services.content.v1.WriteContentRequest', { action: 2 }))).toBe('0802');
    expect(decode<{ kind: string }>('containerd.services.snapshots.v1.Info', Buffer.from('1803', 'hex')).kind).toBe('COMMITTED');
  });

  it('packs events into Any with containerd\'s bare type urls and unpacks them', () => {
    const any = packAny('containerd.events.TaskExit', { containerId: 'c', id: 'c', pid: 3, exitStatus: 137, exitedAt: timestamp(new Date(1500)) });
    expect(any.typeUrl).toBe('containerd.events.TaskExit');
    const env = encode('containerd.services.events.v1.Envelope', { topic: '/tasks/exit', namespace: 'default', event: any });
    const back = decode<{ topic: string; event: { typeUrl: string; value: Uint8Array } }>('containerd.services.events.v1.Envelope', env);
    expect(back.topic).toBe('/tasks/exit');
    const { name, message } = unpackAny<{ exitStatus: number; exitedAt: { seconds: number; nanos: number } }>(back.event);
    expect(name).toBe('containerd.events.TaskExit');
    expect(message.exitStatus).toBe(137);
    expect(dateOf(message.exitedAt)!.getTime()).toBe(1500);
    // A prefixed url names the same type.
    expect(unpackAny({ typeUrl: 'type.googleapis.com/containerd.events.TaskExit', value: any.value }).name).toBe('containerd.events.TaskExit');
  });

  it('keeps image events in the images service package, as containerd 1.6 does', () => {
    expect(() => root.lookupType('.containerd.services.images.v1.ImageCreate')).not.toThrow();
    expect(root.lookup('.containerd.events.ImageCreate')).toBeNull();
  });
});

describe('service definitions', () => {
  it('has containerd method paths and streaming flags', () => {
    const content = serviceDefinition(CONTENT);
    expect(content.Write.path).toBe('/containerd.services.content.v1.Content/Write');
    expect([content.Write.requestStream, content.Write.responseStream]).toEqual([true, true]);
    expect([content.List.requestStream, content.List.responseStream]).toEqual([false, true]);
    expect([content.Info.requestStream, content.Info.responseStream]).toEqual([false, false]);
    const events = serviceDefinition(EVENTS);
    expect(events.Subscribe.path).toBe('/containerd.services.events.v1.Events/Subscribe');
    expect(events.Subscribe.responseStream).toBe(true);
    expect(serviceDefinition(VERSION).Version.originalName).toBe('version');
  });

  it('lists all eleven containerd services, and berth\'s own under berth.*.v1', () => {
    expect([...SERVICE_NAMES].filter((n) => n.startsWith('berth.')).sort()).toEqual(
      ['berth.containers.v1.Containers', 'berth.files.v1.Files', 'berth.images.v1.Images', 'berth.io.v1.IO', 'berth.networks.v1.Networks', 'berth.system.v1.System', 'berth.volumes.v1.Volumes'],
    );
    expect([...SERVICE_NAMES].filter((n) => !n.startsWith('berth.')).sort()).toEqual(
      ['containers', 'content', 'diff', 'events', 'images', 'introspection', 'leases', 'namespaces', 'snapshots', 'tasks', 'version']
        .map((s) => {
          const svc = { containers: 'Containers', content: 'Content', diff: 'Diff', events: 'Events', images: 'Images', introspection: 'Introspection', leases: 'Leases', namespaces: 'Namespaces', snapshots: 'Snapshots', tasks: 'Tasks', version: 'Version' }[s];
          return `containerd.services.${s}.v1.${svc}`;
        })
        .sort(),
    );
  });
});

// ---- the descriptors inside /usr/bin/containerd ----

const CONTAINERD_BIN = ['/usr/bin/containerd', '/usr/local/bin/containerd'].find((p) => existsSync(p));

/** FileDescriptorProtos that Go's protobuf registration embeds gzipped (Go's gzip header: no flags, mtime 0). */
function embeddedFiles(binary: string): Map<string, protobuf.Message & Record<string, any>> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const descriptor = require('protobufjs/ext/descriptor');
  const data = readFileSync(binary);
  const header = Buffer.from('1f8b080000000000', 'hex');
  const out = new Map<string, protobuf.Message & Record<string, any>>();
  for (let i = data.indexOf(header); i >= 0; i = data.indexOf(header, i + 1)) {
    let raw: Buffer;
    try {
      raw = zlib.gunzipSync(data.subarray(i, i + (1 << 20)), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch {
      continue;
    }
    let fd: any;
    try {
      fd = descriptor.FileDescriptorProto.decode(raw);
    } catch {
      continue;
    }
    if (typeof fd.name === 'string' && fd.name.endsWith('.proto') && !out.has(fd.name)) out.set(fd.name, fd);
  }
  return out;
}

const TYPE_NAMES = ['', 'double', 'float', 'int64', 'uint64', 'int32', 'fixed64', 'fixed32', 'bool', 'string', 'group', 'message', 'bytes', 'uint32', 'enum', 'sfixed32', 'sfixed64', 'sint32', 'sint64'];

/** "number name type label" lines of a message in the binary, map fields as map<k,v>. */
function theirFields(msg: any, mapEntries: Map<string, any>): string[] {
  return msg.field.map((f: any) => {
    const typeName = f.typeName ? f.typeName : TYPE_NAMES[f.type];
    const entry = f.typeName && mapEntries.get(f.typeName);
    if (entry) {
      const [k, v] = entry.field;
      return `${f.number} ${protobuf.util.camelCase(f.name)} map<${TYPE_NAMES[k.type]},${v.typeName || TYPE_NAMES[v.type]}>`;
    }
    return `${f.number} ${protobuf.util.camelCase(f.name)} ${typeName}${f.label === 3 ? ' repeated' : ''}`;
  });
}

function ourFields(t: protobuf.Type): string[] {
  return t.fieldsArray.map((f) => {
    const type = f.resolvedType ? f.resolvedType.fullName : f.type;
    if (f instanceof protobuf.MapField) return `${f.id} ${f.name} map<${f.keyType},${type}>`;
    return `${f.id} ${f.name} ${type}${f.repeated ? ' repeated' : ''}`;
  });
}

const sortNum = (a: string[]) => [...a].sort((x, y) => parseInt(x) - parseInt(y));

(CONTAINERD_BIN ? describe : describe.skip)(`the schema matches ${CONTAINERD_BIN ?? 'containerd (not installed)'}`, () => {
  const files = CONTAINERD_BIN ? embeddedFiles(CONTAINERD_BIN) : new Map();
  // What we mirror: containerd's API, the runc v2 options, the cgroups v1/v2 Metrics that
  // Tasks.Metrics packs and google.rpc.Status. Not mirrored (yet): the ttrpc events service,
  // the v1/v2 shim APIs, runctypes.
  const mirrored = [...files.keys()].filter((n) =>
    (/containerd\/containerd\/api\//.test(n) && !/api\/services\/ttrpc\//.test(n)) ||
    /runtime\/v2\/runc\/options\/oci\.proto$/.test(n) ||
    /containerd\/cgroups\/(stats\/v1|v2\/stats)\/metrics\.proto$/.test(n) ||
    n === 'google/rpc/status.proto',
  );

  it('finds the API files in the binary', () => {
    expect(mirrored.length).toBeGreaterThanOrEqual(24);
  });

  it('declares every message, field, enum value, service and method that containerd does, and no others', () => {
    const problems: string[] = [];
    const theirMessages = new Set<string>();
    const theirServices = new Set<string>();
    for (const name of mirrored) {
      const fd = files.get(name);
      const pkg = fd.package;
      const mapEntries = new Map<string, any>();
      const collectMaps = (m: any, full: string) => {
        for (const n of m.nestedType) {
          if (n.options?.mapEntry) mapEntries.set(`${full}.${n.name}`, n);
          else collectMaps(n, `${full}.${n.name}`);
        }
      };
      for (const m of fd.messageType) collectMaps(m, `.${pkg}.${m.name}`);
      const visit = (m: any, full: string) => {
        theirMessages.add(full);
        const ours = root.lookup(full);
        if (!(ours instanceof protobuf.Type)) {
          problems.push(`missing message ${full}`);
          return;
        }
        const a = sortNum(theirFields(m, mapEntries));
        const b = sortNum(ourFields(ours));
        if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`${full}: containerd ${JSON.stringify(a)} ours ${JSON.stringify(b)}`);
        for (const e of m.enumType) checkEnum(e, `${full}.${e.name}`);
        for (const n of m.nestedType) if (!n.options?.mapEntry) visit(n, `${full}.${n.name}`);
      };
      const checkEnum = (e: any, full: string) => {
        const ours = root.lookup(full);
        if (!(ours instanceof protobuf.Enum)) return problems.push(`missing enum ${full}`);
        const a = e.value.map((v: any) => `${v.name}=${v.number}`).sort();
        const b = Object.entries(ours.values).map(([k, v]) => `${k}=${v}`).sort();
        if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`${full}: containerd ${a} ours ${b}`);
        return undefined;
      };
      for (const m of fd.messageType) visit(m, `.${pkg}.${m.name}`);
      for (const e of fd.enumType) checkEnum(e, `.${pkg}.${e.name}`);
      for (const s of fd.service) {
        const full = `.${pkg}.${s.name}`;
        theirServices.add(full);
        const ours = root.lookup(full);
        if (!(ours instanceof protobuf.Service)) {
          problems.push(`missing service ${full}`);
          continue;
        }
        const a = s.method.map((m: any) => `${m.name}(${m.clientStreaming ? 'stream ' : ''}${m.inputType}) ${m.serverStreaming ? 'stream ' : ''}${m.outputType}`).sort();
        const b = ours.methodsArray.map((m) => {
          m.resolve();
          return `${m.name}(${m.requestStream ? 'stream ' : ''}${m.resolvedRequestType!.fullName}) ${m.responseStream ? 'stream ' : ''}${m.resolvedResponseType!.fullName}`;
        }).sort();
        if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`${full}: containerd ${JSON.stringify(a)} ours ${JSON.stringify(b)}`);
      }
    }
    // The other way: nothing of ours under containerd.* / google.rpc / io.containerd.cgroups that containerd lacks.
    const walk = (ns: protobuf.NamespaceBase) => {
      for (const c of ns.nestedArray) {
        if (c instanceof protobuf.Type && !theirMessages.has(c.fullName)) problems.push(`extra message ${c.fullName}`);
        if (c instanceof protobuf.Service && !theirServices.has(c.fullName)) problems.push(`extra service ${c.fullName}`);
        if (c instanceof protobuf.Namespace || c instanceof protobuf.Type) walk(c);
      }
    };
    walk(root.lookup('.containerd') as protobuf.Namespace);
    walk(root.lookup('.google.rpc') as protobuf.Namespace);
    walk(root.lookup('.io.containerd.cgroups') as protobuf.Namespace);
    expect(problems).toEqual([]);
  });
});

// ---- grpc-js plumbing, in process ----

describe('serviceDefinition + createClient over a unix socket', () => {
  let dir = '';
  let sock = '';
  const server = new grpc.Server();
  const seen: { ns: string; lease: string }[] = [];

  const version: ServiceImpl<typeof VERSION> = {
    Version: (call, cb) => {
      seen.push({ ns: namespaceOf(call), lease: leaseOf(call) });
      cb(null, { version: 'v-test', revision: 'r1' });
    },
  };
  const notImplemented = (_call: unknown, cb: (err: grpc.ServiceError) => void) =>
    cb(Object.assign(new Error('no'), { code: grpc.status.UNIMPLEMENTED, details: 'no', metadata: new grpc.Metadata() }));
  const blobs = new Map<string, Buffer>();
  const content: ServiceImpl<typeof CONTENT> = {
    Info: (call, cb) => {
      const b = blobs.get(call.request.digest);
      if (!b) return cb(Object.assign(new Error('not found'), { code: grpc.status.NOT_FOUND, details: `${call.request.digest} not found`, metadata: new grpc.Metadata() }));
      return cb(null, { info: { digest: call.request.digest, size: b.length, labels: { ns: namespaceOf(call) } } });
    },
    Update: notImplemented,
    List: (call) => {
      for (const [d, b] of blobs) call.write({ info: [{ digest: d, size: b.length }] });
      call.end();
    },
    Delete: notImplemented,
    Read: (call) => {
      const b = blobs.get(call.request.digest)!;
      call.write({ offset: 0, data: b.subarray(0, 2) });
      call.write({ offset: 2, data: b.subarray(2) });
      call.end();
    },
    Status: notImplemented,
    ListStatuses: notImplemented,
    Write: (call) => {
      const parts: Buffer[] = [];
      call.on('data', (req) => {
        if (req.data.length) parts.push(Buffer.from(req.data));
        const size = parts.reduce((n, p) => n + p.length, 0);
        if (req.action === 'COMMIT') {
          blobs.set(req.expected, Buffer.concat(parts));
          call.write({ action: 'COMMIT', offset: size, total: req.total, digest: req.expected });
          call.end();
        } else {
          call.write({ action: req.action, offset: size });
        }
      });
    },
    Abort: notImplemented,
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'api-plumb-'));
    sock = join(dir, 'api.sock');
    addService(server, VERSION, version);
    addService(server, CONTENT, content);
    await new Promise<void>((res, rej) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  });
  afterAll(async () => {
    await new Promise<void>((res) => server.tryShutdown(() => res()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('unary: sends the client namespace and lease, per-call namespace wins', async () => {
    const c = createClient(VERSION, sock, { namespace: 'ns1', lease: 'l1' });
    try {
      expect(await c.Version({})).toEqual({ version: 'v-test', revision: 'r1' });
      await c.Version({}, { namespace: 'ns2' });
      expect(seen).toEqual([{ ns: 'ns1', lease: 'l1' }, { ns: 'ns2', lease: 'l1' }]);
    } finally {
      c.close();
    }
  });

  it('bidi Write, server-stream Read and List, unary errors with codes', async () => {
    const c = createClient(CONTENT, sock, { namespace: 'ns1' });
    try {
      const w = c.Write();
      const responses: { action: string; offset: number; digest: string }[] = [];
      const done = new Promise<void>((res, rej) => {
        w.on('data', (r) => responses.push(r));
        w.on('end', res);
        w.on('error', rej);
      });
      w.write({ action: 'STAT', ref: 'r' });
      w.write({ action: 'WRITE', ref: 'r', offset: 0, data: Buffer.from('hel') });
      w.write({ action: 'COMMIT', ref: 'r', offset: 3, data: Buffer.from('lo'), total: 5, expected: 'sha256:fake' });
      w.end();
      await done;
      expect(responses.map((r) => [r.action, r.offset])).toEqual([['STAT', 0], ['WRITE', 3], ['COMMIT', 5]]);
      expect(responses[2]!.digest).toBe('sha256:fake');

      const chunks = await collect(c.Read({ digest: 'sha256:fake' }));
      expect(Buffer.concat(chunks.map((x) => Buffer.from(x.data))).toString()).toBe('hello');
      expect(chunks.map((x) => x.offset)).toEqual([0, 2]);

      const list = await collect(c.List({}));
      expect(list.flatMap((l) => l.info.map((i) => [i.digest, i.size]))).toEqual([['sha256:fake', 5]]);

      const info = await c.Info({ digest: 'sha256:fake' });
      expect(info.info).toMatchObject({ digest: 'sha256:fake', size: 5, labels: { ns: 'ns1' }, createdAt: null });
      await expect(c.Info({ digest: 'sha256:none' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
      await expect(c.Status({ ref: 'x' })).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    } finally {
      c.close();
    }
  });

  it('exports the metadata keys containerd uses', () => {
    expect(NAMESPACE_METADATA_KEY).toBe('containerd-namespace');
    expect(LEASE_METADATA_KEY).toBe('containerd-lease');
  });
});

// Regression: TaskExit and TaskDelete events carried exited_at 1970-01-01, because core code
// hands Dates to packAny and protobufjs encodes a Date in a Timestamp field as zero.
describe('Dates in messages', () => {
  it('are encoded as the Timestamp they mean', () => {
    const { packAny, unpackAny } = require('../src/api');
    const when = new Date('2026-11-22T22:48:15.615Z');
    const any = packAny('containerd.events.TaskExit', { containerId: 'c', id: 'c', pid: 7, exitStatus: 3, exitedAt: when });
    const { message } = unpackAny(any);
    expect(message.exitedAt).toEqual({ seconds: Math.floor(when.getTime() / 1000), nanos: 615_000_000 });
  });
});
