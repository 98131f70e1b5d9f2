// The plugins below the services: the metadata store and the event exchange. Services reach
// them through their requires:
//   ctx.get<Metadata>(METADATA_PLUGIN)   (requires: [METADATA_PLUGIN])
//   ctx.get<Exchange>(EVENTS_PLUGIN)     (requires: [EVENTS_PLUGIN])

import * as path from 'path';
import { unpackAny } from '../api';
import { Exchange } from '../core/events';
import { openMetadata, type Metadata } from '../core/metadata';
import type { Plugin } from './plugin';

/** containerd's type for the metadata store (its id there is `bolt`; ours is LMDB). */
export const METADATA_PLUGIN = 'io.containerd.metadata.v1';
export const EVENTS_PLUGIN = 'io.containerd.event.v1';

export const metadataPlugin: Plugin<Metadata> = {
  type: METADATA_PLUGIN,
  id: 'lmdb',
  requires: [],
  async init(ctx) {
    const meta = await openMetadata({
      root: ctx.root,
      onMigrate: (m) => ctx.log.info({ from: m.from, to: m.to }, `metadata schema migrated: ${m.description}`),
    });
    ctx.exports.path = path.join(ctx.root, 'meta.lmdb');
    return meta;
  },
  close: (meta) => meta.close(),
};

export const exchangePlugin: Plugin<Exchange> = {
  type: EVENTS_PLUGIN,
  id: 'exchange',
  requires: [],
  async init() {
    // event.<field> filters need the payload decoded; unknown types simply do not match.
    return new Exchange((any) => unpackAny(any).message);
  },
  async close(exchange) {
    exchange.close();
  },
};
