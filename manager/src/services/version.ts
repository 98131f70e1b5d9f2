// containerd.services.version.v1.Version: berthd's version and build revision.

import { addService, VERSION as VERSION_SERVICE } from '../api';
import { unary } from '../daemon/grpc';
import type { Plugin } from '../daemon/plugin';
import { REVISION, VERSION } from '../daemon/version';

export const versionPlugin: Plugin<void> = {
  type: 'io.containerd.grpc.v1',
  id: 'version',
  requires: [],
  async init() {},
  register(server) {
    addService(server, VERSION_SERVICE, {
      Version: unary(() => ({ version: VERSION, revision: REVISION })),
    });
  },
};
