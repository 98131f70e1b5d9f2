// The tasks plugin (io.containerd.grpc.v1 tasks): the Tasks service over core/tasks. It needs
// the metadata plugin (container records: the OCI spec) and the events exchange (task events).
// At init it recovers the tasks a previous berthd left running (their shims outlive it); at
// close it lets go of them without touching them.
//
// Config (section `io.containerd.grpc.v1.tasks`):
//   shim_path  berth-shim (default: $BERTH_SHIM, else found beside berthd or in /usr/local/bin, /usr/bin)
//   init_path  berth-init (default: $BERTH_INIT, else the same search)

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
  defaults: { shim_path: '', init_path: '' },
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const publish = publisherOf(ctx);
    const [shimBinary, initBinary] = await Promise.all([
      findBinary('berth-shim', ctx.config.shim_path, process.env.BERTH_SHIM),
      findBinary('berth-init', ctx.config.init_path, process.env.BERTH_INIT),
    ]);
    ctx.exports.shim = shimBinary;
    ctx.exports.init = initBinary;
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
