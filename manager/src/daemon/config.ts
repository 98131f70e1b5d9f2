// berthd's configuration: a JSON file (containerd uses TOML; berth has no TOML parser and
// the settings are the same few), defaults for everything, command-line flags on top.
//
// Every key, its type and default is documented in manager/berthd.example.json and
// manager/README.md. Unknown keys are errors (a misspelt key silently ignored is a setting
// that silently does not apply), except inside `plugins.<type.id>` sections, which belong
// to each plugin. Every error names the file and the key at fault.

import { promises as fsp } from 'fs';
import * as path from 'path';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** Format version of the file; only 1 exists. */
  version: number;
  /** Persistent data: metadata, content, snapshots. */
  root: string;
  /** Runtime data (tmpfs): the pid lock, shims' sockets. */
  state: string;
  grpc: {
    /** The unix socket berthd serves on (mode 0660). */
    address: string;
    /** Owner and group of the socket (group members may then use berthd). */
    uid: number;
    gid: number;
    max_recv_message_size: number;
    max_send_message_size: number;
  };
  log_level: LogLevel;
  /** How long SIGTERM waits for calls in flight before cutting them. */
  shutdown_timeout_ms: number;
  /** `type.id` of plugins not to load at all. */
  disabled_plugins: string[];
  /** `type.id` of plugins without which berthd refuses to run. */
  required_plugins: string[];
  /** Per-plugin settings, by `type.id`. */
  plugins: Record<string, Record<string, unknown>>;
}

export function defaultConfig(): Config {
  return {
    version: 1,
    root: '/var/lib/berth',
    state: '/run/berth',
    grpc: {
      address: '/run/berth/berthd.sock',
      uid: 0,
      gid: 0,
      // containerd's defaults (16 MiB each way).
      max_recv_message_size: 16 << 20,
      max_send_message_size: 16 << 20,
    },
    log_level: 'info',
    shutdown_timeout_ms: 5000,
    disabled_plugins: [],
    required_plugins: ['io.containerd.metadata.v1.lmdb', 'io.containerd.event.v1.exchange'],
    plugins: {},
  };
}

/** Command-line settings; each overrides the file. */
export interface Flags {
  root?: string;
  state?: string;
  address?: string;
  logLevel?: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Json = unknown;

const describe = (v: Json): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? 'an object' : String(v));

class Checker {
  constructor(private readonly source: string) {}

  fail(key: string, why: string): never {
    throw new ConfigError(`${this.source}: ${key}: ${why}`);
  }

  object(v: Json, key: string): Record<string, Json> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, `expected an object, got ${describe(v)}`);
    return v as Record<string, Json>;
  }

  known(obj: Record<string, Json>, allowed: string[], prefix: string): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) this.fail(prefix + k, `unknown setting (known here: ${allowed.join(', ')})`);
    }
  }

  absPath(v: Json, key: string): string {
    if (typeof v !== 'string' || v === '') this.fail(key, `expected a non-empty path, got ${describe(v)}`);
    if (!path.isAbsolute(v as string)) this.fail(key, `expected an absolute path, got ${describe(v)}`);
    return path.normalize(v as string);
  }

  int(v: Json, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(key, `expected an integer, got ${describe(v)}`);
    if ((v as number) < min || (v as number) > max) this.fail(key, `expected ${min}..${max}, got ${v}`);
    return v as number;
  }

  strings(v: Json, key: string): string[] {
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(key, `expected an array of strings, got ${describe(v)}`);
    return [...(v as string[])];
  }

  level(v: Json, key: string): LogLevel {
    if (typeof v !== 'string' || !(LOG_LEVELS as readonly string[]).includes(v)) this.fail(key, `expected one of ${LOG_LEVELS.join(', ')}, got ${describe(v)}`);
    return v as LogLevel;
  }
}

/**
 * Validates a parsed config file (any subset of the keys) over the defaults.
 * `source` names the file in errors.
 */
export function parseConfig(raw: Json, source = 'config'): Config {
  const c = new Checker(source);
  const cfg = defaultConfig();
  const top = c.object(raw, '(top level)');
  c.known(top, ['version', 'root', 'state', 'grpc', 'log_level', 'shutdown_timeout_ms', 'disabled_plugins', 'required_plugins', 'plugins'], '');
  if ('version' in top) {
    cfg.version = c.int(top.version, 'version', 1);
    if (cfg.version !== 1) c.fail('version', `unsupported version ${cfg.version} (this berthd reads version 1)`);
  }
  if ('root' in top) cfg.root = c.absPath(top.root, 'root');
  if ('state' in top) cfg.state = c.absPath(top.state, 'state');
  if ('grpc' in top) {
    const g = c.object(top.grpc, 'grpc');
    c.known(g, ['address', 'uid', 'gid', 'max_recv_message_size', 'max_send_message_size'], 'grpc.');
    if ('address' in g) cfg.grpc.address = c.absPath(g.address, 'grpc.address');
    if ('uid' in g) cfg.grpc.uid = c.int(g.uid, 'grpc.uid', 0, 0xfffffffe);
    if ('gid' in g) cfg.grpc.gid = c.int(g.gid, 'grpc.gid', 0, 0xfffffffe);
    if ('max_recv_message_size' in g) cfg.grpc.max_recv_message_size = c.int(g.max_recv_message_size, 'grpc.max_recv_message_size', 4096, 2 ** 31 - 1);
    if ('max_send_message_size' in g) cfg.grpc.max_send_message_size = c.int(g.max_send_message_size, 'grpc.max_send_message_size', 4096, 2 ** 31 - 1);
  }
  if ('log_level' in top) cfg.log_level = c.level(top.log_level, 'log_level');
  if ('shutdown_timeout_ms' in top) cfg.shutdown_timeout_ms = c.int(top.shutdown_timeout_ms, 'shutdown_timeout_ms', 0, 600_000);
  if ('disabled_plugins' in top) cfg.disabled_plugins = c.strings(top.disabled_plugins, 'disabled_plugins');
  if ('required_plugins' in top) cfg.required_plugins = c.strings(top.required_plugins, 'required_plugins');
  for (const k of cfg.required_plugins.filter((r) => cfg.disabled_plugins.includes(r))) {
    c.fail('required_plugins', `${k} is both required and disabled`);
  }
  if ('plugins' in top) {
    const p = c.object(top.plugins, 'plugins');
    for (const [k, v] of Object.entries(p)) cfg.plugins[k] = c.object(v, `plugins.${k}`);
  }
  return cfg;
}

/** Applies command-line flags over a config (flags win); errors name the flag. */
export function applyFlags(cfg: Config, flags: Flags): Config {
  const c = new Checker('command line');
  const out: Config = { ...cfg, grpc: { ...cfg.grpc } };
  if (flags.root !== undefined) out.root = c.absPath(flags.root, '--root');
  if (flags.state !== undefined) out.state = c.absPath(flags.state, '--state');
  if (flags.address !== undefined) out.grpc.address = c.absPath(flags.address, '--address');
  if (flags.logLevel !== undefined) out.log_level = c.level(flags.logLevel, '--log-level');
  return out;
}

/** Reads and validates `file` (when given; no file means every default), then the flags. */
export async function loadConfig(file: string | undefined, flags: Flags = {}): Promise<Config> {
  let cfg = defaultConfig();
  if (file !== undefined) {
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`config ${file}: ${(err as Error).message}`);
    }
    let raw: Json;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config ${file}: not valid JSON: ${(err as Error).message}`);
    }
    cfg = parseConfig(raw, `config ${file}`);
  }
  return applyFlags(cfg, flags);
}
