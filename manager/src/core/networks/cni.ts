// Calling CNI plugins exactly as the CNI specification (1.0) says, for a network configuration
// list (a "conflist"):
//
//   - each plugin is an executable named by its `type`, looked up in the plugin directories
//     (CNI_PATH); it gets CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and
//     CNI_PATH in its environment and its network configuration as JSON on stdin: the
//     plugin's entry of the list plus the list's `cniVersion` and `name`, `prevResult` (the
//     previous plugin's result) for every plugin after the first, and `runtimeConfig` holding
//     the capability arguments (portMappings, …) of the capabilities the entry declares;
//   - ADD runs the plugins in order, each getting the one before's result; a failure runs DEL
//     for the whole list in reverse (the spec's advice) and is reported;
//   - CHECK and DEL get the cached result of the ADD as prevResult, DEL in reverse order;
//   - a plugin's failure is its exit status with a JSON error {code, msg, details} on stdout.
//
// The result cache (libcni's idea: /var/lib/cni/results): one JSON file per attachment
// (network, container id, interface) under `cacheDir`, written before ADD runs (config and
// arguments, so a DEL can always undo a half-done ADD with what ADD was given, even after the
// network's conflist changed or went away) and again with the result after. DEL reads it and
// removes it only when every plugin's DEL succeeded; DEL of an attachment nobody added is a
// no-op. Plugins are expected to tolerate missing things on DEL (the spec requires it), so a
// DEL after a reboot (the netns gone) still frees IPAM leases and iptables rules.

import { spawn } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';

export const CNI_VERSION = '1.0.0';

export interface PluginConf {
  type: string;
  /** The capability arguments (runtimeConfig keys) this plugin wants, e.g. {portMappings: true}. */
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface NetConfList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: PluginConf[];
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR form: "10.88.0.2/16". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** One attachment of a container to a network: what the runtime passes besides the config. */
export interface RuntimeConf {
  containerId: string;
  /** Path of the network namespace (a bind-mounted nsfs file). */
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs, e.g. [["IP", "10.1.0.5"]]. IgnoreUnknown=1 is always added first. */
  args?: [string, string][];
  /** runtimeConfig values by capability name (given only to plugins declaring it). */
  capabilityArgs?: Record<string, unknown>;
}

export interface CacheEntry {
  kind: 'cniCacheV1';
  containerId: string;
  ifName: string;
  networkName: string;
  netns: string;
  config: NetConfList;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
  result: CniResult | null;
}

/** A plugin's failure: the spec's error (code, msg, details), with who and what failed. */
export class CniError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly code: number,
    readonly msg: string,
    readonly details = '',
  ) {
    super(`plugin type="${plugin}" failed (${command.toLowerCase()}): ${msg}${details ? `: ${details}` : ''}`);
    this.name = 'CniError';
  }
}

export interface CniOptions {
  /** Where plugin executables are looked up, in order (CNI_PATH). */
  pluginDirs: string[];
  /** The result cache's directory. */
  cacheDir: string;
  /** How long one plugin may run (ms). */
  timeoutMs?: number;
}

const SAFE = /[^A-Za-z0-9_.-]/g;

export class Cni {
  private readonly timeoutMs: number;

  constructor(private readonly opts: CniOptions) {
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** The cache file of an attachment. */
  cachePath(networkName: string, containerId: string, ifname: string): string {
    return join(this.opts.cacheDir, `${networkName}-${containerId}-${ifname}.json`.replace(SAFE, '_'));
  }

  async cached(networkName: string, containerId: string, ifname: string): Promise<CacheEntry | undefined> {
    return readCache(this.cachePath(networkName, containerId, ifname));
  }

  /** Every cached attachment (to find those whose container is gone). */
  async listCache(): Promise<CacheEntry[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.opts.cacheDir);
    } catch {
      return [];
    }
    const out: CacheEntry[] = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      const e = await readCache(join(this.opts.cacheDir, n));
      if (e) out.push(e);
    }
    return out;
  }

  /** The plugin's executable in the plugin dirs, or CniError naming the dirs. */
  async findPlugin(type: string): Promise<string> {
    if (!type || type.includes('/') || type === '.' || type === '..') throw new CniError(type, 'FIND', 7, `invalid plugin type ${JSON.stringify(type)}`);
    for (const dir of this.opts.pluginDirs) {
      const p = join(dir, type);
      if (await fs.access(p, constants.X_OK).then(() => true, () => false)) return p;
    }
    throw new CniError(type, 'FIND', 7, `failed to find plugin "${type}" in path [${this.opts.pluginDirs.join(' ')}]`);
  }

  /** The plugins' VERSION answer ({cniVersion, supportedVersions}). */
  async version(type: string): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    const out = await this.exec(type, 'VERSION', {}, { cniVersion: CNI_VERSION });
    return out as { cniVersion: string; supportedVersions: string[] };
  }

  /** ADD of the whole list; on failure the list's DEL runs (reverse order) and the error is thrown. */
  async add(list: NetConfList, rt: RuntimeConf): Promise<CniResult> {
    const path = this.cachePath(list.name, rt.containerId, rt.ifname);
    const entry: CacheEntry = {
      kind: 'cniCacheV1',
      containerId: rt.containerId,
      ifName: rt.ifname,
      networkName: list.name,
      netns: rt.netns,
      config: list,
      cniArgs: rt.args ?? [],
      capabilityArgs: rt.capabilityArgs ?? {},
      result: null,
    };
    await writeCache(path, entry);
    let prev: CniResult | undefined;
    try {
      for (const plugin of list.plugins) {
        prev = (await this.exec(plugin.type, 'ADD', envOf('ADD', rt, this.opts.pluginDirs), netconfOf(list, plugin, prev, entry.capabilityArgs))) as CniResult;
      }
    } catch (err) {
      await this.del(list, rt).catch(() => undefined);
      throw err;
    }
    const result = prev ?? { cniVersion: list.cniVersion };
    await writeCache(path, { ...entry, result });
    return result;
  }

  /** CHECK of the whole list against the cached ADD result (skipped when the list disables it). */
  async check(rt: Omit<RuntimeConf, 'args' | 'capabilityArgs'> & { networkName: string }): Promise<void> {
    const entry = await this.cached(rt.networkName, rt.containerId, rt.ifname);
    if (!entry?.result) throw new CniError('', 'CHECK', 3, `no cached result for ${rt.networkName}/${rt.containerId}/${rt.ifname}: nothing was added`);
    if (entry.config.disableCheck) return;
    const full: RuntimeConf = { containerId: rt.containerId, netns: rt.netns, ifname: rt.ifname, args: entry.cniArgs, capabilityArgs: entry.capabilityArgs };
    for (const plugin of entry.config.plugins) {
      await this.exec(plugin.type, 'CHECK', envOf('CHECK', full, this.opts.pluginDirs), netconfOf(entry.config, plugin, entry.result, entry.capabilityArgs), false);
    }
  }

  /**
   * DEL of an attachment, with the config, arguments and result cached by its ADD (`list` only
   * when there is no cache: an ADD that never wrote one). Every plugin is called even when one
   * fails; the cache goes only when all succeeded; the first failure is thrown.
   */
  async del(list: NetConfList | undefined, rt: RuntimeConf): Promise<void> {
    const name = list?.name;
    const path = name ? this.cachePath(name, rt.containerId, rt.ifname) : undefined;
    const entry = path ? await readCache(path) : undefined;
    const config = entry?.config ?? list;
    if (!config) return;
    const full: RuntimeConf = { ...rt, args: entry?.cniArgs ?? rt.args ?? [], capabilityArgs: entry?.capabilityArgs ?? rt.capabilityArgs ?? {} };
    let first: unknown;
    for (const plugin of [...config.plugins].reverse()) {
      try {
        await this.exec(plugin.type, 'DEL', envOf('DEL', full, this.opts.pluginDirs), netconfOf(config, plugin, entry?.result ?? undefined, full.capabilityArgs ?? {}), false);
      } catch (err) {
        first ??= err;
      }
    }
    if (first) throw first;
    if (path) await fs.rm(path, { force: true });
  }

  /** DEL of a cached attachment by its cache entry (one whose owner is gone). */
  async delCached(entry: CacheEntry, netns = entry.netns): Promise<void> {
    await this.del(entry.config, { containerId: entry.containerId, netns, ifname: entry.ifName });
  }

  /** Runs one plugin; resolves with its parsed stdout (undefined when it printed nothing and `needOutput` is false). */
  private async exec(type: string, command: string, env: Record<string, string>, conf: object, needOutput = true): Promise<unknown> {
    const bin = await this.findPlugin(type);
    const input = JSON.stringify(conf);
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(bin, [], { env: { ...process.env, ...env, CNI_COMMAND: command }, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new CniError(type, command, 5, `cannot run ${bin}: ${e.message}`));
      });
      child.on('close', (c, sig) => {
        clearTimeout(timer);
        resolve({ code: c ?? (sig ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      child.stdin.on('error', () => undefined); // a plugin that exits without reading its stdin
      child.stdin.end(input);
    });
    if (code !== 0) {
      let parsed: { code?: number; msg?: string; details?: string } | undefined;
      try {
        parsed = JSON.parse(stdout) as typeof parsed;
      } catch {
        parsed = undefined;
      }
      const msg = parsed?.msg || stderr.trim() || stdout.trim() || `exit status ${code}`;
      throw new CniError(type, command, parsed?.code ?? 999, msg, parsed?.details ?? '');
    }
    if (stdout.trim() === '') {
      if (needOutput) throw new CniError(type, command, 6, 'the plugin printed no result');
      return undefined;
    }
    try {
      return JSON.parse(stdout) as unknown;
    } catch {
      throw new CniError(type, command, 6, `the plugin's result is not JSON: ${stdout.slice(0, 200)}`);
    }
  }
}

/** The spec's environment for one call (CNI_COMMAND is set per call). */
function envOf(command: string, rt: RuntimeConf, pluginDirs: string[]): Record<string, string> {
  const args: [string, string][] = [['IgnoreUnknown', '1'], ...(rt.args ?? [])];
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifname,
    CNI_ARGS: args.map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: pluginDirs.join(':'),
  };
}

/** One plugin's stdin: its entry + the list's name and version, prevResult, runtimeConfig. */
export function netconfOf(list: NetConfList, plugin: PluginConf, prevResult: CniResult | undefined, capabilityArgs: Record<string, unknown>): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  if (prevResult) conf.prevResult = prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  return conf;
}

async function readCache(path: string): Promise<CacheEntry | undefined> {
  try {
    const e = JSON.parse(await fs.readFile(path, 'utf8')) as CacheEntry;
    return e.kind === 'cniCacheV1' ? e : undefined;
  } catch {
    return undefined;
  }
}

/** Written beside and renamed into place: a crash never leaves half a cache file. */
async function writeCache(path: string, entry: CacheEntry): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf('/'));
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
  await fs.rename(tmp, path);
}
