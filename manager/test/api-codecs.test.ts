// src/api's schema as a client process gets it: packages added on first lookup (descriptor.ts
// by package), and each message's generated functions taken precompiled from codecs.ts instead
// of protobufjs's `new Function`. Checked against protobufjs itself building the whole schema at
// once (Root.fromJSON of every package): same reflection, same bytes, same objects — and no
// code generated at run time.

import * as protobuf from 'protobufjs';
import { readFileSync } from 'fs';
import { join } from 'path';
import { CONTENT, VERSION, decode, encode, root, serviceDefinition } from '../src/api';
import { schemaPackages } from '../src/api/generated/descriptor';

const packages = schemaPackages();

/** The whole schema the way index.ts used to build it: one Root.fromJSON. */
function eagerRoot(): protobuf.Root {
  const json: { nested: Record<string, any> } = { nested: {} };
  for (const [name, pkg] of Object.entries(packages)) {
    let node = json;
    for (const part of name.split('.')) node = node.nested[part] ??= { nested: {} };
    Object.assign(node.nested, pkg.nested);
  }
  return protobuf.Root.fromJSON(json as protobuf.INamespace);
}

function allTypes(ns: protobuf.NamespaceBase, out: protobuf.Type[] = []): protobuf.Type[] {
  for (const c of ns.nestedArray) {
    if (c instanceof protobuf.Type) out.push(c);
    if (c instanceof protobuf.Namespace || c instanceof protobuf.Type) allTypes(c, out);
  }
  return out;
}

describe('packages on first lookup', () => {
  it('serviceDefinition, encode and decode never build the reflection schema', () => {
    const def = serviceDefinition(VERSION);
    expect(def.Version.responseDeserialize(def.Version.responseSerialize({ version: 'v' }))).toEqual({ version: 'v', revision: '' });
    expect(decode('containerd.types.Mount', encode('containerd.types.Mount', { type: 'overlay' }))).toMatchObject({ type: 'overlay' });
    expect(root.nested).toBeUndefined();
  });

  it('a lookup adds the package it is in and what that refers to, only', () => {
    expect(root.lookupService('.containerd.services.version.v1.Version').name).toBe('Version');
    expect(Object.keys(root.nested ?? {}).sort()).toEqual(['containerd', 'google']);
    const services = (root.nested!.containerd as protobuf.Namespace).nested!.services as protobuf.Namespace;
    expect(Object.keys(services.nested ?? {})).toEqual(['version']);
  });

  it('answers every lookup as the whole schema does, nothing more, nothing less', () => {
    const eager = eagerRoot();
    root.lookup('.'); // the whole schema
    const ours = new Map(allTypes(root).map((t) => [t.fullName, t]));
    const theirs = allTypes(eager);
    expect([...ours.keys()].sort()).toEqual(theirs.map((t) => t.fullName).sort());
    for (const t of theirs) {
      const o = ours.get(t.fullName)!;
      expect(JSON.stringify(o.toJSON())).toBe(JSON.stringify(t.toJSON()));
      expect(o.fieldsArray.map((f) => `${f.id} ${f.resolvedType?.fullName ?? f.type} ${f.packed} ${f.repeated}`)).toEqual(
        t.fieldsArray.map((f) => `${f.id} ${f.resolvedType?.fullName ?? f.type} ${f.packed} ${f.repeated}`),
      );
    }
    expect(root.lookup('.containerd.nope')).toBeNull();
    expect(() => root.lookupType('.containerd.types.Nope')).toThrow(/no such type/);
  });
});

describe('precompiled codecs', () => {
  const codecsText = readFileSync(join(__dirname, '..', 'src', 'api', 'generated', 'codecs.ts'), 'utf8');

  it("hold protobufjs's generator output for every message, verbatim", () => {
    const eager = eagerRoot();
    const missing: string[] = [];
    for (const t of allTypes(eager)) {
      for (const [kind, gen] of [
        ['ctor', () => protobuf.Type.generateConstructor(t)],
        ['encode', () => protobuf.encoder(t)],
        ['decode', () => protobuf.decoder(t)],
        ['fromObject', () => protobuf.converter.fromObject(t)],
        ['toObject', () => protobuf.converter.toObject(t)],
      ] as const) {
        if (!codecsText.includes(`\nreturn ${gen().toString()}\n}`)) missing.push(`${t.fullName} ${kind}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('carry each field\'s type, every enum and every service method as protobufjs resolves them', () => {
    const { codecs, services } = require('../src/api/generated/codecs');
    const eager = eagerRoot();
    const entries: Record<string, { t?: (string | null)[]; values?: Record<string, number> }> = {};
    for (const make of Object.values(codecs) as (() => Record<string, never>)[]) Object.assign(entries, make());
    const problems: string[] = [];
    const walk = (ns: protobuf.NamespaceBase) => {
      for (const c of ns.nestedArray) {
        const name = c.fullName.slice(1);
        if (c instanceof protobuf.Type) {
          const want = c.fieldsArray.map((f) => (f.resolve().resolvedType ? f.resolvedType!.fullName.slice(1) : null));
          if (JSON.stringify(entries[name]?.t) !== JSON.stringify(want)) problems.push(`${name}: field types`);
        } else if (c instanceof protobuf.Enum) {
          if (JSON.stringify(entries[name]?.values) !== JSON.stringify(c.values)) problems.push(`${name}: values`);
        } else if (c instanceof protobuf.Service) {
          const want = Object.fromEntries(c.methodsArray.map((m) => (m.resolve(), [m.name, [m.resolvedRequestType!.fullName.slice(1), m.resolvedResponseType!.fullName.slice(1), !!m.requestStream, !!m.responseStream]])));
          if (JSON.stringify(services[name]) !== JSON.stringify(want)) problems.push(`${name}: methods`);
        }
        if (c instanceof protobuf.Namespace || c instanceof protobuf.Type) walk(c);
      }
    };
    walk(eager);
    expect(problems).toEqual([]);
  });

  it("are set up as protobufjs's Type#setup and ctor getter set them up (as pinned here)", () => {
    // codec.ts repeats these two with the generated source swapped for the precompiled one; a
    // protobufjs that changes them must be looked at again.
    const squash = (s: string) => s.replace(/\/\/.*$/gm, '').replace(/\/\*.*?\*\//g, '').replace(/\s+/g, '');
    expect(squash(protobuf.Type.prototype.setup.toString())).toBe(
      squash(`function setup() {
        var fullName = this.fullName, types = [];
        for (var i = 0; i < this.fieldsArray.length; ++i) types.push(this._fieldsArray[i].resolve().resolvedType);
        this.encode = encoder(this)({ Writer : Writer, types : types, util : util });
        this.decode = decoder(this)({ Reader : Reader, types : types, util : util });
        this.verify = verifier(this)({ types : types, util : util });
        this.fromObject = converter.fromObject(this)({ types : types, util : util });
        this.toObject = converter.toObject(this)({ types : types, util : util });
        var wrapper = wrappers[fullName];
        if (wrapper) {
          var originalThis = Object.create(this);
          originalThis.fromObject = this.fromObject;
          this.fromObject = wrapper.fromObject.bind(originalThis);
          originalThis.toObject = this.toObject;
          this.toObject = wrapper.toObject.bind(originalThis);
        }
        return this;
      }`),
    );
    const getter = Object.getOwnPropertyDescriptor(protobuf.Type.prototype, 'ctor')!.get!.toString();
    expect(squash(getter)).toBe('function(){returnthis._ctor||(this.ctor=Type.generateConstructor(this)());}');
  });

  /** A value for every field (nested messages to `depth`), so every branch of the codecs runs. */
  function sample(t: protobuf.Type, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const oneofSeen = new Set<string>();
    for (const f of t.fieldsArray) {
      if (f.partOf) {
        if (oneofSeen.has(f.partOf.name)) continue;
        oneofSeen.add(f.partOf.name);
      }
      const one = (i: number): unknown => {
        const r = f.resolvedType;
        if (r instanceof protobuf.Enum) return Object.keys(r.values)[Math.min(1, Object.keys(r.values).length - 1)];
        if (r instanceof protobuf.Type) return depth > 0 ? sample(r, depth - 1) : {};
        switch (f.type) {
          case 'string': return `s${i}-${f.name}`;
          case 'bytes': return Buffer.from([i, 1, 2, 255]);
          case 'bool': return true;
          case 'double': case 'float': return 1.5 + i;
          case 'int64': case 'sint64': case 'sfixed64': return -(2 ** 40) - i;
          case 'uint64': case 'fixed64': return 2 ** 40 + i;
          case 'int32': case 'sint32': case 'sfixed32': return -7 - i;
          default: return 7 + i;
        }
      };
      if (f.map) out[f.name] = { k1: one(1), k2: one(2) };
      else if (f.repeated) out[f.name] = [one(1), one(2)];
      else out[f.name] = one(0);
    }
    return out;
  }

  it('encode and decode every message as protobufjs does on its own', () => {
    const eager = eagerRoot();
    const conv = { longs: Number, enums: String, defaults: true, arrays: true, objects: true };
    const problems: string[] = [];
    for (const theirs of allTypes(eager)) {
      const name = theirs.fullName.slice(1);
      const value = sample(theirs, 2);
      const ours = encode(name, value);
      const expected = Buffer.from(theirs.encode(theirs.fromObject(value)).finish());
      if (!ours.equals(expected)) problems.push(`${name}: encode ${ours.toString('hex')} != ${expected.toString('hex')}`);
      const back = JSON.stringify(decode(name, expected));
      const want = JSON.stringify(theirs.toObject(theirs.decode(expected), conv));
      if (back !== want) problems.push(`${name}: decode ${back} != ${want}`);
    }
    expect(problems).toEqual([]);
  });

  it('generate no code at run time (a fresh schema, as in a new process)', () => {
    let api!: typeof import('../src/api');
    jest.isolateModules(() => {
      api = require('../src/api');
    });
    const { serviceDefinition, encode, decode } = api;
    const generated = jest.spyOn(globalThis, 'Function');
    try {
      const def = serviceDefinition(CONTENT);
      const req = def.Info.requestSerialize({ digest: 'sha256:x' });
      expect(def.Info.requestDeserialize(req)).toEqual({ digest: 'sha256:x' });
      const res = def.Info.responseSerialize({ info: { digest: 'd', size: 5, createdAt: { seconds: 3, nanos: 4 }, labels: { a: 'b' } } });
      expect(def.Info.responseDeserialize(res)).toMatchObject({ info: { digest: 'd', size: 5, createdAt: { seconds: 3, nanos: 4 }, labels: { a: 'b' } } });
      // google.protobuf.Any goes through protobufjs's wrapper on top of the precompiled code.
      const any = encode('google.protobuf.Any', { typeUrl: 'x/y', value: Buffer.from([1, 2]) });
      expect(decode('google.protobuf.Any', any)).toEqual({ typeUrl: 'x/y', value: Buffer.from([1, 2]) });
      expect(generated).not.toHaveBeenCalled();
    } finally {
      generated.mockRestore();
    }
  });
});
