// berthd's side of berth-shim (shim/PROTOCOL.md): start one, talk to its control socket, and
// run berth-init's handshake over the sync connection the shim hands berth-init.
export { startShim, ShimStartError } from './start';
export type { ShimStartOptions, StartedShim } from './start';
export { ShimClient, ShimError, consoleSocketPath } from './client';
export type { ShimState, ShimExit, ShimExecOptions } from './client';
export { SyncListener, initHandshake } from './sync';
