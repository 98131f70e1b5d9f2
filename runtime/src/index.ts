// The runtime library: what berth-runtime's CLI and berthd import.
export * from './spec/types';
export { validateSpec } from './spec/validate';
export { loadBundle } from './spec/load';
export { buildPlan, encodePlan } from './plan/build';
export { StateStore, deriveStatus, toOciState } from './state/state';
export type { Status, StoredState, OciState } from './state/state';
export { validateId } from './state/id';
export { runtimeContext, DEFAULT_ROOT } from './lib/context';
export type { RuntimeContext } from './lib/context';
export { createContainer } from './lib/create';
export { startContainer } from './lib/start';
export { killContainer, parseSignal } from './lib/kill';
export { deleteContainer } from './lib/delete';
export { containerState, listContainers } from './lib/query';
export { BerthError } from './util/errors';
