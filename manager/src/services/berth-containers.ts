// berth.containers.v1.Containers: Docker's container operations containerd has no call for.
//   Top  the container's processes through the host's ps (core/containers/top.ts); the
//        container's task must be running (FailedPrecondition otherwise, Docker's
//        "container … is not running"); ps's own failure comes back as its stderr.

import { execFile } from 'node:child_process';
import { BERTH_CONTAINERS, addService, type ServiceImpl } from '../api';
import { failedPrecondition, invalidArgument, isKind } from '../core/errors';
import type { Tasks } from '../core/tasks';
import { parsePs, pidsArg, psArgv } from '../core/containers/top';
import { requireNamespace, unary } from '../daemon/grpc';
import type { Plugin } from '../daemon/plugin';

function ps(args: string[]): Promise<{ ok: true; stdout: string } | { ok: false; message: string }> {
  return new Promise((resolve) => {
    execFile('ps', args, { timeout: 10_000, maxBuffer: 16 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) resolve({ ok: false, message: (stderr || err.message).trim() });
      else resolve({ ok: true, stdout });
    });
  });
}

export function berthContainersService(deps: { tasks: Tasks }): ServiceImpl<typeof BERTH_CONTAINERS> {
  return {
    Top: unary(async (call) => {
      const { containerId, psArgs } = call.request;
      if (!containerId) throw invalidArgument('container_id is required');
      const tm = deps.tasks.namespace(requireNamespace(call));
      const args = psArgv(psArgs);
      const info = await tm.get(containerId).catch((err: unknown) => {
        if (isKind(err, 'NotFound')) return undefined;
        throw err;
      });
      if (!info || info.status !== 'RUNNING') throw failedPrecondition(`container ${containerId} is not running`);
      const pids = (await tm.pids(containerId)).map((p) => p.pid);
      let r = await ps([...args, ...pidsArg(pids)]);
      if (!r.ok) r = await ps(args);
      if (!r.ok) throw invalidArgument(`ps ${args.join(' ')}: ${r.message}`);
      const { titles, processes } = parsePs(r.stdout, pids);
      return { titles, processes: processes.map((fields) => ({ fields })) };
    }),
  };
}

export const berthContainersServicePlugin: Plugin<Tasks> = {
  type: 'io.containerd.grpc.v1',
  id: 'berth-containers',
  requires: ['io.containerd.grpc.v1.tasks'],
  async init(ctx) {
    return ctx.get<Tasks>('io.containerd.grpc.v1.tasks');
  },
  register(server, tasks) {
    addService(server, BERTH_CONTAINERS, berthContainersService({ tasks }));
  },
};
