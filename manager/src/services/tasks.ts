// containerd.services.tasks.v1.Tasks over core/tasks' TaskManager (one per namespace): a thin
// adapter, as containerd's tasks service is over its runtime.
//
// As containerd 1.6 behaves, for the clients that depend on it (ctr, the Go client, CRI):
//   Create   needs the container's metadata record (NotFound without one); mounts the request's
//            rootfs (the snapshot's mounts, which ctr sends) at the bundle's rootfs; stdio are
//            FIFO paths the client made, or stdout = stderr = `file:///path` (`ctr run --log-uri`):
//            both streams appended raw to that file by the shim; other URI schemes (binary://)
//            are InvalidArgument naming the field (core/tasks/stdio.ts). A checkpoint is
//            NotImplemented.
//   Exec     stdio as for Create, but FIFOs only: file:// is InvalidArgument (one log per task).
//   Start    the init process (exec_id empty) or a process added by Exec.
//   Delete   refused (FailedPrecondition) while the task runs; a created task is killed first.
//   Kill     `all`: every process of the task's cgroup. NotFound once the process has exited.
//   ListPids ProcessInfo.info is a containerd.runc.v1.ProcessDetails with the exec id, for the
//            processes that are execs (as runc's shim does).
//   Metrics  data is containerd's cgroups Metrics (io.containerd.cgroups.v1.Metrics, or v2 for
//            a container in a unified hierarchy), from the runtime's statistics
//            (task-metrics.ts): `ctr task metrics` prints it as a table or JSON. A task
//            deleted meanwhile is left out.
//   Checkpoint  NotImplemented (no CRIU).

import * as grpc from '@grpc/grpc-js';
import { TASKS, packAny, timestamp, type ServiceImpl } from '../api';
import { invalidArgument, notImplemented } from '../core/errors';
import type { ProcessInfo, Tasks } from '../core/tasks';
import { realHost } from '@berth/runtime/dist/host/real-host';
import { requireNamespace, unary } from './content';
import { readCgroupMetrics } from './task-metrics';

export interface TasksServiceDeps {
  tasks: Tasks;
}

const processToProto = (p: ProcessInfo) => ({
  containerId: p.containerId,
  id: p.id,
  pid: p.pid,
  status: p.status,
  stdin: p.stdin,
  stdout: p.stdout,
  stderr: p.stderr,
  terminal: p.terminal,
  exitStatus: p.exitStatus,
  exitedAt: p.exitedAt ? timestamp(p.exitedAt) : null,
});

function jsonAny(any: { typeUrl: string; value: Uint8Array } | null | undefined, what: string): unknown {
  if (!any || !any.value?.length) throw invalidArgument(`${what} is required`);
  try {
    return JSON.parse(Buffer.from(any.value).toString('utf8'));
  } catch (err) {
    throw invalidArgument(`${what}: not JSON (${any.typeUrl}): ${(err as Error).message}`);
  }
}

/** `id==x`, `id=="x"` or `id~=…` are not parsed beyond the equality form; other filters match all. */
function idFilter(filters: string[]): Set<string> | undefined {
  const ids = new Set<string>();
  for (const f of filters) {
    for (const part of f.split(',')) {
      const m = /^\s*(?:id|container_id)\s*==\s*"?([^"]*)"?\s*$/.exec(part);
      if (m) ids.add(m[1]!);
    }
  }
  return ids.size ? ids : undefined;
}

export function tasksService(deps: TasksServiceDeps): ServiceImpl<typeof TASKS> {
  const tm = (call: { metadata: grpc.Metadata }) => deps.tasks.namespace(requireNamespace(call));
  return {
    Create: unary(async (call) => {
      const r = call.request;
      if (r.checkpoint && (r.checkpoint.digest || r.checkpoint.mediaType)) throw notImplemented('checkpoint restore is not implemented');
      const { pid } = await tm(call).create(r.containerId, {
        rootfs: r.rootfs.map((m) => ({ type: m.type, source: m.source, target: m.target, options: m.options })),
        stdio: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
      });
      return { containerId: r.containerId, pid };
    }),

    Start: unary(async (call) => ({ pid: (await tm(call).start(call.request.containerId, call.request.execId || undefined)).pid })),

    Delete: unary(async (call) => {
      const id = call.request.containerId;
      const e = await tm(call).delete(id);
      return { id, pid: e.pid, exitStatus: e.exitStatus, exitedAt: timestamp(e.exitedAt) };
    }),

    DeleteProcess: unary(async (call) => {
      const { containerId, execId } = call.request;
      if (!execId) throw invalidArgument('exec_id is required (Delete deletes the task)');
      const e = await tm(call).deleteProcess(containerId, execId);
      return { id: execId, pid: e.pid, exitStatus: e.exitStatus, exitedAt: timestamp(e.exitedAt) };
    }),

    Get: unary(async (call) => ({ process: processToProto(await tm(call).get(call.request.containerId, call.request.execId || undefined)) })),

    List: unary(async (call) => ({ tasks: (await tm(call).list()).map(processToProto) })),

    Kill: unary(async (call) => {
      const r = call.request;
      await tm(call).kill(r.containerId, r.signal, { execId: r.execId || undefined, all: r.all });
      return {};
    }),

    Exec: unary(async (call) => {
      const r = call.request;
      if (!r.execId) throw invalidArgument('exec_id is required');
      await tm(call).exec(r.containerId, r.execId, jsonAny(r.spec, 'spec'), { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal });
      return {};
    }),

    ResizePty: unary(async (call) => {
      const r = call.request;
      await tm(call).resizePty(r.containerId, r.width, r.height, r.execId || undefined);
      return {};
    }),

    CloseIO: unary(async (call) => {
      const r = call.request;
      await tm(call).closeIO(r.containerId, { execId: r.execId || undefined, stdin: r.stdin });
      return {};
    }),

    Pause: unary(async (call) => {
      await tm(call).pause(call.request.containerId);
      return {};
    }),

    Resume: unary(async (call) => {
      await tm(call).resume(call.request.containerId);
      return {};
    }),

    ListPids: unary(async (call) => ({
      processes: (await tm(call).pids(call.request.containerId)).map((p) =>
        p.execId ? { pid: p.pid, info: packAny('containerd.runc.v1.ProcessDetails', { execId: p.execId }) } : { pid: p.pid },
      ),
    })),

    Checkpoint: unary(async () => {
      throw notImplemented('checkpoint is not implemented');
    }),

    Update: unary(async (call) => {
      const r = call.request;
      await tm(call).update(r.containerId, jsonAny(r.resources, 'resources') as never);
      return {};
    }),

    Metrics: unary(async (call) => {
      const m = tm(call);
      const wanted = idFilter(call.request.filters);
      const ids = m.ids().filter((id) => !wanted || wanted.has(id));
      const metrics = [];
      for (const id of ids.sort()) {
        const data = await m
          .cgroup(id)
          .then((cg) => readCgroupMetrics(realHost, cg.version, cg.paths))
          .catch(() => undefined);
        if (!data) continue; // deleted meanwhile: its state and cgroup are gone
        metrics.push({ timestamp: timestamp(), id, data });
      }
      return { metrics };
    }),

    Wait: unary(async (call) => {
      const e = await tm(call).wait(call.request.containerId, call.request.execId || undefined);
      return { exitStatus: e.exitStatus, exitedAt: timestamp(e.exitedAt) };
    }),
  };
}
