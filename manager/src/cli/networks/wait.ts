// After `create`: berthd sets a container's network up when its record is created
// (plugins/networks.ts); the client waits for that here, so `run -d -p` returns with the port
// published and `start` never joins a namespace that is not there yet.

import type { Daemon } from '../daemon';
import { CliError, grpcCode } from '../errors';

const FAILED_PRECONDITION = 9;

/** Waits for the set-up; a failure is berthd's message (Docker's start error, exit 125). */
export async function awaitNetwork(d: Daemon, containerId: string): Promise<void> {
  await d.networks.ContainerSettings({ containerId }).catch((err: unknown) => {
    if (grpcCode(err) === FAILED_PRECONDITION) {
      const msg = String((err as { details?: string }).details ?? (err as Error).message).replace(/: failed precondition$/, '');
      throw new CliError(`Error response from daemon: ${msg}`, 125);
    }
    throw err;
  });
}
