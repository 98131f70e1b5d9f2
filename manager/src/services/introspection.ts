// containerd.services.introspection.v1.Introspection:
//   Plugins  every registered plugin in start order with its requires, exports,
//            capabilities and init error (skipped plugins carry containerd's "skip plugin"
//            text, which ctr shows as "skip"); filters on `type` and `id`
//   Server   the daemon's UUID, made once and kept in <root>/uuid across restarts

import { randomUUID } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { addService, INTROSPECTION } from '../api';
import { parseFilters } from '../core/metadata';
import { unary } from '../daemon/grpc';
import type { Plugin, PluginInfo } from '../daemon/plugin';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Reads <root>/uuid, creating it (atomically) the first time or when it is damaged. */
export async function serverUuid(root: string): Promise<string> {
  const file = path.join(root, 'uuid');
  const existing = await fsp.readFile(file, 'utf8').then(
    (s) => s.trim(),
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    },
  );
  if (UUID.test(existing)) return existing;
  const uuid = randomUUID();
  await fsp.mkdir(root, { recursive: true, mode: 0o711 });
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, uuid + '\n', { mode: 0o644 });
  await fsp.rename(tmp, file);
  return uuid;
}

// grpc status codes for init errors: a skip is FailedPrecondition-like to ctr only by text.
const UNKNOWN = 2;

const toProto = (p: PluginInfo) => ({
  type: p.type,
  id: p.id,
  requires: p.requires,
  platforms: [],
  exports: p.exports,
  capabilities: p.capabilities,
  initErr: p.error ? { code: UNKNOWN, message: p.error.message, details: [] } : null,
});

interface Deps {
  uuid: string;
  plugins(): PluginInfo[];
}

export const introspectionPlugin: Plugin<Deps> = {
  type: 'io.containerd.grpc.v1',
  id: 'introspection',
  requires: [],
  async init(ctx) {
    return { uuid: await serverUuid(ctx.root), plugins: ctx.plugins };
  },
  register(server, deps) {
    addService(server, INTROSPECTION, {
      Plugins: unary((call) => {
        const filter = parseFilters(...call.request.filters);
        const matching = deps.plugins().filter((p) =>
          filter.match((fp) => {
            if (fp.length !== 1) return undefined;
            switch (fp[0]?.toLowerCase()) {
              case 'type':
                return p.type;
              case 'id':
                return p.id;
            }
            return undefined;
          }),
        );
        return { plugins: matching.map(toProto) };
      }),
      Server: unary(() => ({ uuid: deps.uuid })),
    });
  },
};
