// Message codecs without protobufjs's reflection: each message type of proto/ as a plain object
// with the four functions protobufjs would generate for it — encode, decode, fromObject,
// toObject — taken precompiled from generated/codecs.ts, and its generated constructor.
//
// Why: protobufjs makes these functions with `new Function` on a type's first use, after
// building the reflection tree (Root, Types, Fields, resolving names). In a `berth` command,
// a new process every time, that was ~40 ms of code generation and ~10 ms of building the
// tree for `berth run`. Here a type is a few property writes: the functions' source was
// generated at build time by protobufjs itself, is compiled with the bundle and comes out of
// bin/berth's V8 code cache. What they compute is protobufjs's own code; what they are handed
// is what protobufjs's Type#setup hands them (Writer/Reader, the field types, util) —
// test/api-codecs.test.ts checks bytes and objects against protobufjs's reflection for every type.
//
// Objects made here behave as protobufjs Types for those four functions (and `ctor`, `values`
// for enums); index.ts's `root` is still there for reflection (lookups, JSON, verify).

import * as protobuf from 'protobufjs';
import { codecs, services, type EnumCodec, type TypeCodecs } from './generated/codecs';

type Fn = (...args: unknown[]) => unknown;

/** A message type: what generated code calls on `types[i]` (and on `this`). */
export interface MessageCodec {
  readonly fullName: string;
  ctor: new (properties?: object) => object;
  encode(message: object, writer?: protobuf.Writer, depth?: number): protobuf.Writer;
  decode(reader: protobuf.Reader | Uint8Array, length?: number, end?: number, depth?: number): object;
  fromObject(object: object, depth?: number): object;
  toObject(message: object, options?: protobuf.IConversionOptions, depth?: number): Record<string, unknown>;
}

/** An enum as protobufjs's Enum gives it to generated code: values by name, names by value. */
export interface EnumValues {
  readonly fullName: string;
  values: Record<string | number, string | number>;
}

const made = new Map<string, MessageCodec | EnumValues>();
/** The reflection schema (index.ts's root), for the Any wrapper's JSON paths. */
let reflection: { lookup(name: string): unknown } | undefined;

/** Called once by index.ts: where the Any wrapper looks '@type' names up. */
export function setReflectionRoot(root: { lookup(name: string): unknown }): void {
  reflection = root;
}
const loaded = new Map<string, Record<string, TypeCodecs | EnumCodec>>();

/** The codecs.ts entry of a full name: its package is the longest prefix that is one. */
function entry(fullName: string): TypeCodecs | EnumCodec | undefined {
  for (let i = fullName.lastIndexOf('.'); i > 0; i = fullName.lastIndexOf('.', i - 1)) {
    const pkg = fullName.slice(0, i);
    const make = codecs[pkg];
    if (!make) continue;
    let table = loaded.get(pkg);
    if (!table) loaded.set(pkg, (table = make()));
    if (table[fullName]) return table[fullName];
  }
  return undefined;
}

/** The codec of a message or enum by full name (no leading dot); undefined if proto/ has none. */
function lookup(fullName: string): MessageCodec | EnumValues | undefined {
  let c = made.get(fullName);
  if (!c) {
    const e = entry(fullName);
    if (!e) return undefined;
    c = 'values' in e ? enumValues(fullName, e) : messageCodec(fullName, e);
    made.set(fullName, c);
  }
  return c;
}

/** Like protobufjs's Enum constructor: `values` by name, inheriting names by value. */
function enumValues(fullName: string, e: EnumCodec): EnumValues {
  const byId: Record<number, string> = {};
  const values = Object.create(byId) as Record<string, number>;
  for (const name of Object.keys(e.values)) if (name !== '__proto__') byId[(values[name] = e.values[name]!)] = name;
  return { fullName, values };
}

/**
 * A message type whose functions are made on first use, as Type#setup makes them (the field
 * types first, each itself made lazily, so recursive types work), then protobufjs's wrapper
 * for google.protobuf.Any on top, as setup puts it.
 */
function messageCodec(fullName: string, e: TypeCodecs): MessageCodec {
  const codec = { fullName } as MessageCodec & Record<string, unknown>;
  let ready = false;
  const setup = () => {
    if (ready) return;
    ready = true;
    const types = e.t.map((name) => (name === null ? null : lookup(name)));
    const util = protobuf.util;
    codec.ctor = e.ctor() as unknown as MessageCodec['ctor'];
    codec.encode = e.encode(protobuf.Writer, types, util) as MessageCodec['encode'];
    codec.decode = e.decode(protobuf.Reader, types, util) as MessageCodec['decode'];
    codec.fromObject = e.fromObject(types, util) as MessageCodec['fromObject'];
    codec.toObject = e.toObject(types, util) as MessageCodec['toObject'];
    const wrapper = (protobuf.wrappers as Record<string, { fromObject: Fn; toObject: Fn }>)[`.${fullName}`];
    if (wrapper) {
      // The wrapper's '@type' (JSON) paths look types up and create messages: the reflection
      // schema does the looking up, as on a protobufjs Type.
      const originalThis = Object.create(codec) as Record<string, unknown>;
      originalThis.lookup = (name: string) => reflection?.lookup(name) ?? null;
      originalThis.create = (properties?: object) => new codec.ctor(properties);
      originalThis.fromObject = codec.fromObject;
      codec.fromObject = wrapper.fromObject.bind(originalThis) as MessageCodec['fromObject'];
      originalThis.toObject = codec.toObject;
      codec.toObject = wrapper.toObject.bind(originalThis) as MessageCodec['toObject'];
    }
  };
  // Until first used, each function sets the type up and calls the real one (as protobufjs's
  // Type.prototype methods call setup()).
  for (const k of ['encode', 'decode', 'fromObject', 'toObject'] as const) {
    codec[k] = function (this: unknown, ...args: unknown[]) {
      setup();
      return (codec[k] as Fn).apply(codec, args);
    } as never;
  }
  Object.defineProperty(codec, 'ctor', {
    configurable: true,
    enumerable: true,
    get() {
      setup();
      return codec.ctor;
    },
    set(v) {
      Object.defineProperty(codec, 'ctor', { value: v, writable: true, enumerable: true, configurable: true });
    },
  });
  return codec;
}

/** A message type's codec; throws as protobufjs's lookupType does for a name it does not know. */
export function messageCodecOf(fullName: string): MessageCodec {
  const name = fullName.startsWith('.') ? fullName.slice(1) : fullName;
  const c = lookup(name);
  if (!c || !('encode' in c)) throw new Error(`no such type: ${name}`);
  return c;
}

/** A method of a service: [request type, response type, client streams, server streams]; undefined if unknown. */
export function serviceMethods(service: string): Record<string, [string, string, boolean, boolean]> | undefined {
  return services[service];
}
