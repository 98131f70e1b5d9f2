// berth.io.v1.IO (proto/berth/io/v1/io.proto): attach and logs for berth's client.
//
//   Attach  relays between the call and the process's shim connections (core/tasks/attach.ts):
//           output as it comes (the call's flow control pauses the shim connection, and a
//           shim connection that does not keep up loses output, never the log); input in
//           order, its end as the shim connection's end (so the shim's --close-stdin closes
//           the process's stdin after the last byte). The call ends once the shim has ended
//           every output connection — or, should something that inherited the process's
//           stdio keep it open, EXIT_GRACE_MS after the process's exit.
//   Logs    the container's CRI log (core/logs), only for berth containers (the tasks plugin
//           gives only those a log); follow ends when the task's process has exited.
//
// The plugin also removes a container's log files when the container record is deleted.

import type * as grpc from '@grpc/grpc-js';
import type { Socket } from 'net';
import { promises as fs } from 'fs';
import { BERTH_IO, addService, unpackAny, type ServiceImpl, type Services } from '../api';
import { CREATED_BY } from '../core/containers/labels';
import { failedPrecondition, invalidArgument } from '../core/errors';
import type { Exchange } from '../core/events';
import { containerLogPath, rotatedLogPath } from '../core/logs/path';
import { readLog } from '../core/logs/reader';
import type { Metadata } from '../core/metadata';
import type { AttachedStreams, Attachment, Tasks } from '../core/tasks';
import { EVENTS_PLUGIN } from '../daemon/core-plugins';
import { requireNamespace, toStatus } from '../daemon/grpc';
import type { Plugin } from '../daemon/plugin';
import { METADATA_PLUGIN } from '../plugins/storage';
import { TASKS_PLUGIN } from '../plugins/tasks';

/** After the process's exit, how long output may still come before the attach ends anyway. */
export const EXIT_GRACE_MS = 2000;

type IoMethods = Services[typeof BERTH_IO];
type AttachCall = grpc.ServerDuplexStream<IoMethods['Attach']['request'], IoMethods['Attach']['responseInit']>;
type LogsCall = grpc.ServerWritableStream<IoMethods['Logs']['request'], IoMethods['Logs']['responseInit']>;

export interface IoServiceDeps {
  tasks: Tasks;
  metadata: Metadata;
  logRoot: string;
  warn?: (msg: string) => void;
}

/** Writes to a server stream, waiting for 'drain' when it asks to. */
function writeFlowing<T>(call: grpc.ServerWritableStream<unknown, T> | grpc.ServerDuplexStream<unknown, T>, msg: T): Promise<void> {
  if (call.write(msg)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.once('drain', done);
    call.once('cancelled', done);
  });
}

function attach(deps: IoServiceDeps, call: AttachCall): void {
  let finished = false;
  let cancelled = false;
  let attachment: Attachment | undefined;
  let streams: AttachedStreams | undefined;
  let grace: NodeJS.Timeout | undefined;
  /** Input that came before the shim connection existed, and whether the input has ended. */
  const queued: Buffer[] = [];
  let inputEnded = false;

  const finish = (err?: unknown) => {
    if (finished) return;
    finished = true;
    clearTimeout(grace);
    attachment?.cancel();
    for (const s of streams?.all ?? []) s.destroy();
    if (cancelled) return;
    // grpc-js sends a stream's status on 'error' (destroy() would drop it).
    if (err) call.emit('error', toStatus(err));
    else call.end();
  };

  const relayOutput = (sock: Socket, field: 'stdout' | 'stderr' | undefined): Promise<void> =>
    new Promise((resolve) => {
      sock.on('data', (chunk: Buffer) => {
        if (!field || finished) return;
        if (!call.write({ [field]: chunk })) {
          sock.pause();
          call.once('drain', () => sock.resume());
        }
      });
      sock.once('end', () => resolve());
      sock.once('close', () => resolve());
      sock.on('error', (e: Error) => deps.warn?.(`attach: ${e.message}`));
      sock.resume();
    });

  const sendInput = () => {
    const s = streams?.stdin;
    if (!s) return;
    for (const chunk of queued.splice(0)) s.write(chunk);
    if (inputEnded && !s.writableEnded) s.end();
  };

  const open = async (req: IoMethods['Attach']['request']) => {
    const o = req.open;
    if (!o || !o.containerId) throw invalidArgument('open.container_id: the first message opens the attach');
    const ns = requireNamespace(call);
    const tm = deps.tasks.namespace(ns);
    const execId = o.execId || undefined;
    attachment = tm.attach(o.containerId, { execId, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, closeStdin: o.closeStdin });
    // An exec's connections are made by its Start: the client may start it now.
    if (execId) await writeFlowing(call, { ready: true, terminal: attachment.terminal });
    streams = await attachment.connected;
    if (finished) {
      for (const s of streams.all) s.destroy();
      return;
    }
    if (!execId) await writeFlowing(call, { ready: true, terminal: attachment.terminal });
    sendInput();
    const outputs: Promise<void>[] = [];
    if (streams.stdout) outputs.push(relayOutput(streams.stdout, 'stdout'));
    if (streams.stderr) outputs.push(relayOutput(streams.stderr, 'stderr'));
    // A connection only for input: its output is not wanted, its end still marks the end.
    if (streams.stdin && streams.stdin !== streams.stdout) outputs.push(relayOutput(streams.stdin, undefined));
    // The process's exit, then a grace period: output still held open by someone else ends here.
    void tm
      .wait(o.containerId, execId)
      .then(() => {
        if (!finished) grace = setTimeout(() => finish(), EXIT_GRACE_MS);
      })
      .catch(() => undefined);
    await Promise.all(outputs);
    finish();
  };

  call.on('data', (req: IoMethods['Attach']['request']) => {
    if (finished) return;
    if (!attachment) {
      open(req).catch(finish);
      return;
    }
    if (req.open) return finish(invalidArgument('open: only the first message opens the attach'));
    if (req.stdin?.length) {
      queued.push(Buffer.from(req.stdin));
      sendInput();
    }
  });
  call.on('end', () => {
    inputEnded = true;
    sendInput();
  });
  call.on('cancelled', () => {
    cancelled = true;
    finish();
  });
  call.on('error', () => finish());
}

function logs(deps: IoServiceDeps, call: LogsCall): void {
  const abort = new AbortController();
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
    abort.abort();
  });
  void (async () => {
    const r = call.request;
    const ns = requireNamespace(call);
    if (!r.containerId) throw invalidArgument('container_id is required');
    const c = deps.metadata.containers.get(ns, r.containerId);
    if (c.labels[CREATED_BY] !== 'berth') throw failedPrecondition(`container ${r.containerId} has no log berthd keeps: it was not created by berth`);
    const nanos = (t: { seconds: number | string; nanos: number } | null) => (t ? BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos) : undefined);
    // Follow ends with the task's process; without a task there is nothing more to wait for.
    const ended = deps.tasks
      .namespace(ns)
      .wait(r.containerId)
      .then(
        () => undefined,
        () => undefined,
      );
    const lines = readLog(
      containerLogPath(deps.logRoot, ns, r.containerId),
      {
        stdout: r.stdout,
        stderr: r.stderr,
        follow: r.follow,
        ...(r.tail >= 0 ? { tail: r.tail } : {}),
        ...(r.since ? { since: nanos(r.since) } : {}),
        ...(r.until ? { until: nanos(r.until) } : {}),
      },
      { ended, signal: abort.signal },
    );
    for await (const l of lines) {
      if (cancelled) break;
      await writeFlowing(call, { time: l.time, stream: l.stream, data: l.data, partial: l.partial });
    }
  })().then(
    () => {
      if (!cancelled) call.end();
    },
    (err) => {
      if (!cancelled) call.emit('error', toStatus(err));
    },
  );
}

export function ioService(deps: IoServiceDeps): ServiceImpl<typeof BERTH_IO> {
  return {
    Attach: (call) => attach(deps, call),
    Logs: (call) => logs(deps, call),
  };
}

/** Removes a deleted container's log files (berth's client never deletes files itself). */
export async function removeContainerLog(logRoot: string, namespace: string, id: string): Promise<void> {
  const path = containerLogPath(logRoot, namespace, id);
  await Promise.all([fs.rm(path, { force: true }), fs.rm(rotatedLogPath(path), { force: true })]);
}

export const ioPlugin: Plugin<{ impl: ServiceImpl<typeof BERTH_IO>; close(): void }> = {
  type: 'io.containerd.grpc.v1',
  id: 'berth-io',
  requires: [TASKS_PLUGIN, METADATA_PLUGIN, EVENTS_PLUGIN],
  async init(ctx) {
    const tasks = ctx.get<Tasks>(TASKS_PLUGIN);
    const tasksInfo = ctx.plugins().find((p) => `${p.type}.${p.id}` === TASKS_PLUGIN);
    const logRoot = tasksInfo?.exports.log_root;
    if (!logRoot) throw new Error('the tasks plugin exports no log_root');
    ctx.exports.log_root = logRoot;
    const exchange = ctx.get<Exchange>(EVENTS_PLUGIN);
    const sub = exchange.subscribe(['topic=="/containers/delete"'], (env) => {
      let id: string;
      try {
        id = String(unpackAny<{ id: string }>(env.event).message.id);
      } catch {
        return;
      }
      removeContainerLog(logRoot, env.namespace, id).catch((e: Error) => ctx.log.warn(`removing the log of ${id}: ${e.message}`));
    });
    const impl = ioService({ tasks, metadata: ctx.get<Metadata>(METADATA_PLUGIN), logRoot, warn: (m) => ctx.log.warn(m) });
    return { impl, close: () => sub.close() };
  },
  register(server, instance) {
    addService(server, BERTH_IO, instance.impl);
  },
  async close(instance) {
    instance.close();
  },
};
