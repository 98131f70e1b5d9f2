// Every plugin berthd starts. Order here does not matter (the registry sorts by requires);
// it is only the order among plugins free to start at the same point, and so the order
// `ctr plugins ls` shows. To add one: import its Plugin object and put it in the list.

import { eventsPlugin } from '../services/events';
import { introspectionPlugin } from '../services/introspection';
import { leasesPlugin } from '../services/leases';
import { namespacesPlugin } from '../services/namespaces';
import { versionPlugin } from '../services/version';
import { exchangePlugin, metadataPlugin } from './core-plugins';
import { STORAGE_PLUGINS } from '../plugins';
import { tasksPlugin } from '../plugins/tasks';
import { gcSchedulerPlugin } from '../plugins/gc';
import { filesPlugin } from '../services/berth-files';
import { systemPlugin } from '../services/berth-system';
import { berthContainersPlugin } from '../plugins/berth-containers';
import { restartPlugin } from '../plugins/restart';
import { berthContainersServicePlugin } from '../services/berth-containers';
import { ioPlugin } from '../services/berth-io';
import { volumesPlugin } from '../plugins/volumes';
import { volumesServicePlugin } from '../services/berth-volumes';
import { berthImagesPlugin } from '../services/berth-images';
import { networksPlugin } from '../plugins/networks';
import { networksServicePlugin } from '../services/berth-networks';
import type { Plugin } from './plugin';

export const PLUGINS: Plugin<any>[] = [
  // core
  metadataPlugin,
  exchangePlugin,
  // gRPC services
  versionPlugin,
  namespacesPlugin,
  leasesPlugin,
  eventsPlugin,
  introspectionPlugin,
  // content, snapshotters, differ and their services; containers; tasks
  ...STORAGE_PLUGINS,
  // volumes: before tasks and restarts, so the filesystems of mounted volumes are back first
  volumesPlugin,
  tasksPlugin,
  // berth containers: their /etc files, state labels and --rm (after tasks: it deletes tasks)
  berthContainersPlugin,
  // networks of berth containers (CNI): before restarts, so namespaces gone with a reboot are
  // made again before a restart policy starts a container in one
  networksPlugin,
  // restart policies of berth containers (after tasks: it acts on the recovered ones)
  restartPlugin,
  // garbage collection of content and snapshots (not in STORAGE_PLUGINS: the in-process
  // service tests run those without a collector)
  gcSchedulerPlugin,
  // berth's own services (proto/berth/): after tasks and the collector, which they use
  systemPlugin,
  filesPlugin,
  berthContainersServicePlugin,
  volumesServicePlugin,
  networksServicePlugin,
  // registry pull, push and login (berth.images.v1)
  berthImagesPlugin,
  // attach and logs of berth containers (after tasks: it uses their shims)
  ioPlugin,
];
