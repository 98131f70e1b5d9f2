// The mount flags of `berth run` / `berth create`, parsed as Docker's client and daemon read
// them (Linux rules):
//
//   -v /host:/ctr[:MODE]     a bind mount of a host path
//   -v NAME:/ctr[:MODE]      a named volume, created on first use
//   -v /ctr[:MODE]           an anonymous volume (a new one, 64 hex digits, for this container)
//       MODE: comma-separated rw|ro, z|Z, a propagation (rprivate, shared, …), nocopy
//   --mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,volume-opt=K=V]…
//       (Docker's CSV: a field with a comma is quoted: "volume-opt=o=size=8m,uid=1000")
//   --volumes-from CONTAINER[:ro|rw]
//
// Pure: what the flags mean, checked; planning them against the image and other containers
// is plan.ts, asking berthd for the volumes is prepare.ts.

import { posix } from 'node:path';
import { UsageError } from '../errors';
import { parseBytes } from '../containers/run-options';
import type { MountSpec } from '../../core/containers/run-config';

export interface BindRequest {
  kind: 'bind';
  source: string;
  destination: string;
  readonly: boolean;
  propagation: string;
  /** Docker's inspect Mode: the -v mode as given ("" for --mount). */
  mode: string;
}

export interface VolumeRequest {
  kind: 'volume';
  /** '' for an anonymous volume. */
  name: string;
  destination: string;
  readonly: boolean;
  mode: string;
  /** volume-nocopy / the "nocopy" mode: no copy of the image's files into a new volume. */
  nocopy: boolean;
  /** For a volume this container creates (--mount volume-label=, volume-opt=, volume-driver=). */
  labels: Record<string, string>;
  driverOptions: Record<string, string>;
  driver: string;
}

export interface TmpfsRequest {
  kind: 'tmpfs';
  destination: string;
  readonly: boolean;
  /** Bytes; 0: the kernel's default (half the memory). */
  size: number;
  /** File mode of the tmpfs root; undefined: the kernel's (1777). */
  mode?: number;
}

export type MountRequest = BindRequest | VolumeRequest | TmpfsRequest;

export interface VolumesFrom {
  container: string;
  /** Overrides every mount's mode; undefined keeps each one's. */
  mode?: 'ro' | 'rw';
}

const PROPAGATIONS = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];
const MODE_GROUPS = [['rw', 'ro'], ['z', 'Z'], PROPAGATIONS, ['nocopy'], ['consistent', 'cached', 'delegated']];

/** Docker's ValidMountMode: each part known, at most one of each kind. */
export function validMode(mode: string): boolean {
  const seen = new Set<number>();
  for (const part of mode.split(',')) {
    const group = MODE_GROUPS.findIndex((g) => g.includes(part));
    if (group < 0 || seen.has(group)) return false;
    seen.add(group);
  }
  return true;
}

/** Docker's volume name rule (core/volumes/names.ts says it to berthd's callers too). */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** A container path as Docker compares them: cleaned, absolute, not "/". */
function destinationOf(p: string, fail: (why: string) => Error): string {
  if (!p.startsWith('/')) throw fail(`invalid mount path: '${p}' mount path must be absolute`);
  const clean = posix.normalize(p).replace(/(.)\/+$/, '$1');
  if (clean === '/') throw fail("invalid specification: destination can't be '/'");
  return clean;
}

/** One -v / --volume value. */
export function parseVolumeFlag(v: string, commandPath: string): BindRequest | VolumeRequest {
  const fail = (why: string) => new UsageError(`invalid argument "${v}" for "-v, --volume" flag: ${why}`, commandPath);
  const parts = v.split(':');
  let source = '';
  let dest: string;
  let mode = '';
  if (parts.length === 1) {
    dest = parts[0]!;
  } else if (parts.length === 2) {
    // "/data:ro" is an anonymous volume with a mode; "src:/dst" a bind or a named volume
    if (validMode(parts[1]!) && !parts[1]!.startsWith('/')) [dest, mode] = [parts[0]!, parts[1]!];
    else [source, dest] = [parts[0]!, parts[1]!];
  } else if (parts.length === 3) {
    [source, dest, mode] = [parts[0]!, parts[1]!, parts[2]!];
  } else {
    throw fail(`invalid volume specification: '${v}'`);
  }
  const destination = destinationOf(dest, fail);
  if (mode !== '' && !validMode(mode)) throw fail(`invalid mode: ${mode}`);
  const modes = mode === '' ? [] : mode.split(',');
  const readonly = modes.includes('ro');
  if (source.startsWith('/')) {
    if (modes.includes('nocopy')) throw fail('invalid mode: nocopy (only for volumes)');
    return { kind: 'bind', source: posix.normalize(source), destination, readonly, propagation: modes.find((m) => PROPAGATIONS.includes(m)) ?? 'rprivate', mode };
  }
  if (source !== '' && !VOLUME_NAME.test(source)) {
    throw fail(`create ${source}: "${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  if (modes.some((m) => PROPAGATIONS.includes(m))) throw fail(`invalid mode: ${mode} (propagation is for bind mounts)`);
  return {
    kind: 'volume',
    name: source,
    destination,
    readonly,
    mode: mode === '' && source !== '' ? 'z' : mode,
    nocopy: modes.includes('nocopy'),
    labels: {},
    driverOptions: {},
    driver: '',
  };
}

/** Splits one CSV record as Go's encoding/csv does for a single line: "…" quotes, "" inside them. */
export function csvFields(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  let quoted = false;
  while (i <= s.length) {
    const c = s[i];
    if (quoted) {
      if (c === undefined) throw new Error('extraneous or missing " in quoted-field');
      if (c === '"') {
        if (s[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cur += c;
      i++;
      continue;
    }
    if (c === undefined || c === ',') {
      out.push(cur);
      cur = '';
      i++;
      continue;
    }
    if (c === '"' && cur === '') quoted = true;
    else cur += c;
    i++;
  }
  return out;
}

function bool(value: string | undefined, fail: () => Error): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  throw fail();
}

/** One --mount value: the request, and Docker's HostConfig.Mounts entry for inspect. */
export function parseMountFlag(v: string, commandPath: string): { request: MountRequest; spec: MountSpec } {
  const fail = (why: string) => new UsageError(`invalid argument "${v}" for "--mount" flag: ${why}`, commandPath);
  let fields: string[];
  try {
    fields = csvFields(v);
  } catch (err) {
    throw fail((err as Error).message);
  }
  let type = 'volume';
  let source = '';
  let target = '';
  let readonly = false;
  let propagation = '';
  let nocopy = false;
  let driver = '';
  let size = 0;
  let tmpfsMode: number | undefined;
  const labels: Record<string, string> = {};
  const driverOptions: Record<string, string> = {};
  const used = new Set<string>();
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = (): string => {
      if (value === undefined) throw fail(`invalid field '${field}' must be a key=value pair`);
      return value;
    };
    used.add(key);
    switch (key) {
      case 'type':
        type = need();
        break;
      case 'source':
      case 'src':
        source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = need();
        break;
      case 'readonly':
      case 'ro':
        readonly = bool(value, () => fail(`invalid value for ${key}: ${value}`));
        break;
      case 'bind-propagation':
        propagation = need();
        if (!PROPAGATIONS.includes(propagation)) throw fail(`invalid bind-propagation: ${JSON.stringify(propagation)}`);
        break;
      case 'volume-nocopy':
        nocopy = bool(value, () => fail(`invalid value for volume-nocopy: ${value}`));
        break;
      case 'volume-driver':
        driver = need();
        break;
      case 'volume-label': {
        const l = need();
        const i = l.indexOf('=');
        labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
        break;
      }
      case 'volume-opt': {
        const o = need();
        const i = o.indexOf('=');
        if (i <= 0) throw fail(`invalid volume-opt '${o}': want key=value`);
        driverOptions[o.slice(0, i)] = o.slice(i + 1);
        break;
      }
      case 'tmpfs-size':
        size = parseBytes(need(), 'mount', commandPath);
        break;
      case 'tmpfs-mode': {
        const m = need();
        if (!/^[0-7]{1,4}$/.test(m)) throw fail(`invalid tmpfs-mode: ${m} (octal, e.g. 1770)`);
        tmpfsMode = parseInt(m, 8);
        break;
      }
      case 'consistency':
        need();
        break;
      default:
        throw fail(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (target === '') throw fail('target is required');
  const destination = destinationOf(target, fail);
  const mixed = (prefix: string) => [...used].find((k) => k.startsWith(prefix));
  switch (type) {
    case 'bind': {
      if (mixed('volume-') || mixed('tmpfs-')) throw fail(`cannot mix '${mixed('volume-') ?? mixed('tmpfs-')}' options with mount type 'bind'`);
      if (source === '') throw fail(`invalid mount config for type "bind": field Source must not be empty`);
      if (!source.startsWith('/')) throw fail(`invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
      const src = posix.normalize(source);
      return {
        request: { kind: 'bind', source: src, destination, readonly, propagation: propagation || 'rprivate', mode: '' },
        spec: { Type: 'bind', Source: src, Target: destination, ...(readonly ? { ReadOnly: true } : {}), ...(propagation ? { BindOptions: { Propagation: propagation } } : {}) },
      };
    }
    case 'volume': {
      if (mixed('bind-') || mixed('tmpfs-')) throw fail(`cannot mix '${mixed('bind-') ?? mixed('tmpfs-')}' options with mount type 'volume'`);
      if (source !== '' && !VOLUME_NAME.test(source)) {
        throw fail(`create ${source}: "${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
      }
      const hasOptions = nocopy || Object.keys(labels).length > 0 || Object.keys(driverOptions).length > 0 || driver !== '';
      return {
        request: { kind: 'volume', name: source, destination, readonly, mode: '', nocopy, labels, driverOptions, driver },
        spec: {
          Type: 'volume',
          ...(source ? { Source: source } : {}),
          Target: destination,
          ...(readonly ? { ReadOnly: true } : {}),
          ...(hasOptions
            ? {
                VolumeOptions: {
                  ...(nocopy ? { NoCopy: true } : {}),
                  ...(Object.keys(labels).length ? { Labels: labels } : {}),
                  ...(driver !== '' || Object.keys(driverOptions).length ? { DriverConfig: { Name: driver || 'local', Options: driverOptions } } : {}),
                },
              }
            : {}),
        },
      };
    }
    case 'tmpfs': {
      if (mixed('bind-') || mixed('volume-')) throw fail(`cannot mix '${mixed('bind-') ?? mixed('volume-')}' options with mount type 'tmpfs'`);
      if (source !== '') throw fail(`invalid mount config for type "tmpfs": source must not be specified`);
      return {
        request: { kind: 'tmpfs', destination, readonly, size, ...(tmpfsMode !== undefined ? { mode: tmpfsMode } : {}) },
        spec: {
          Type: 'tmpfs',
          Target: destination,
          ...(readonly ? { ReadOnly: true } : {}),
          ...(size || tmpfsMode !== undefined ? { TmpfsOptions: { ...(size ? { SizeBytes: size } : {}), ...(tmpfsMode !== undefined ? { Mode: tmpfsMode } : {}) } } : {}),
        },
      };
    }
    default:
      throw fail(`invalid mount type ${JSON.stringify(type)} (berth has bind, volume and tmpfs)`);
  }
}

/** One --volumes-from value: CONTAINER[:ro|rw]. */
export function parseVolumesFrom(v: string, commandPath: string): VolumesFrom {
  const colon = v.lastIndexOf(':');
  if (colon < 0) {
    if (v === '') throw new UsageError(`invalid argument "" for "--volumes-from" flag: a container is required`, commandPath);
    return { container: v };
  }
  const container = v.slice(0, colon);
  const mode = v.slice(colon + 1);
  if (container === '') throw new UsageError(`invalid argument "${v}" for "--volumes-from" flag: a container is required`, commandPath);
  if (mode !== 'ro' && mode !== 'rw') throw new UsageError(`invalid argument "${v}" for "--volumes-from" flag: invalid mode: ${mode}`, commandPath);
  return { container, mode };
}
