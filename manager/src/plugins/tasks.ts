// The tasks plugin (io.containerd.grpc.v1 tasks): the Tasks service over core/tasks. It needs
// the metadata plugin (container records: the OCI spec) and the events exchange (task events).
// At init it recovers the tasks a previous berthd left running (their shims outlive it); at
// close it lets go of them without touching them.
//
// Config (section `io.containerd.grpc.v1.tasks`):
//   shim_path  berth-shim (default: $BERTH_SHIM, else found beside berthd or in /usr/local/bin, /usr/bin)
//   init_path  berth-init (default: $BERTH_INIT, else the same search)
//   log_root   where the shims of berth containers write their CRI logs, <log_root>/<ns>/<id>.log
//              (default /var/log/berth): only for containers labelled berth/created-by=berth
//              whose task is created with empty stdio (berth's client; ctr sends FIFOs)
//   log_max_size  bytes before the shim rotates a log to <id>.log.1 (0: never)

import { promises as fs } from 'fs';
import { dirname, isAbsolute, join, resolve } from 'path';
import type { Server } from '@grpc/grpc-js';
import { TASKS, addService } from '../api';
import { failedPrecondition } from '../core/errors';
import type { Metadata } from '../core/metadata';
import { Tasks } from '../core/tasks';
import type { Plugin } from '../daemon/plugin';
import { emit } from '../services/content';
import { tasksService } from '../services/tasks';
import { EVENT_PLUGIN, GRPC_PLUGIN, publisherOf } from './grpc';
import { METADATA_PLUGIN } from './storage';
import { CREATED_BY, STDIN_OPEN } from '../core/containers/labels';
import { containerLogPath } from '../core/logs/path';

export const TASKS_PLUGIN = `${GRPC_PLUGIN}.tasks`;
export const DEFAULT_LOG_ROOT = '/var/log/berth';

async function findBinary(name: string, configured: unknown, env: string | undefined): Promise<string> {
  const given = typeof configured === 'string' && configured ? configured : env;
  if (given) return isAbsolute(given) ? given : resolve(given);
  const dirs = [dirname(process.argv[1] ?? ''), join(__dirname, '..', '..', '..', 'bin'), join(__dirname, '..', '..', '..', '..', 'bin'), '/usr/local/bin', '/usr/bin'];
  for (const d of dirs) {
    const p = resolve(d, name);
    if (await fs.access(p).then(() => true, () => false)) return p;
  }
  throw new Error(`${name} not found (set ${name === 'berth-shim' ? 'shim_path' : 'init_path'} in the tasks plugin's config)`);
}

export const tasksPlugin: Plugin<Tasks> = {
  type: GRPC_PLUGIN,
  id: 'tasks',
  requires: [METADATA_PLUGIN, EVENT_PLUGIN],
  defaults: { shim_path: '', init_path: '', log_root: DEFAULT_LOG_ROOT, log_max_size: 0 },
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const publish = publisherOf(ctx);
    const [shimBinary, initBinary] = await Promise.all([
      findBinary('berth-shim', ctx.config.shim_path, process.env.BERTH_SHIM),
      findBinary('berth-init', ctx.config.init_path, process.env.BERTH_INIT),
    ]);
    ctx.exports.shim = shimBinary;
    ctx.exports.init = initBinary;
    const logRoot = ctx.config.log_root;
    if (typeof logRoot !== 'string' || !isAbsolute(logRoot)) throw new Error(`log_root: expected an absolute path, got ${JSON.stringify(logRoot)}`);
    const logMaxSize = ctx.config.log_max_size;
    if (typeof logMaxSize !== 'number' || !Number.isSafeInteger(logMaxSize) || logMaxSize < 0) throw new Error('log_max_size: expected a non-negative integer');
    ctx.exports.log_root = logRoot;
    const tasks = new Tasks({
      state: ctx.state,
      shimBinary,
      initBinary,
      spec: (ns, id) => {
        const c = md.containers.get(ns, id);
        try {
          return JSON.parse(Buffer.from(c.spec.value).toString('utf8'));
        } catch (err) {
          throw failedPrecondition(`container ${id}: its spec is not JSON: ${(err as Error).message}`);
        }
      },
      publish: (ns, topic, type, event) => emit(publish, ctx.log, ns, topic, type, event),
      // berth containers (the labels of core/containers/labels.ts): the CRI log that `berth
      // logs` reads, and with -i a stdin the shim keeps open for attach clients.
      defaultIo: (ns, id) => {
        const labels = md.containers.get(ns, id).labels;
        if (labels[CREATED_BY] !== 'berth') return undefined;
        return { logPath: containerLogPath(logRoot, ns, id), openStdin: labels[STDIN_OPEN] === 'true' };
      },
      ...(logMaxSize > 0 ? { logMaxSize } : {}),
      warn: (m) => ctx.log.warn(m),
    });
    const found = await tasks.recover();
    for (const [ns, ids] of Object.entries(found)) if (ids.length) ctx.log.info({ namespace: ns, tasks: ids }, 'recovered tasks');
    return tasks;
  },
  register(server: Server, tasks: Tasks) {
    addService(server, TASKS, tasksService({ tasks }));
  },
  async close(tasks) {
    tasks.close();
  },
};
