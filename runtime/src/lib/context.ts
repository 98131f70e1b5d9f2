import { StateStore } from '../state/state';
import type { Host } from '../host/host';
import { realHost } from '../host/real-host';

/** What every operation needs: where state lives, the host, and where warnings go. */
export interface RuntimeContext {
  store: StateStore;
  host: Host;
  warn: (msg: string) => void;
  debug: (msg: string) => void;
}

export function runtimeContext(root: string, warn: (m: string) => void = () => undefined, debug: (m: string) => void = () => undefined, host: Host = realHost): RuntimeContext {
  return { store: new StateStore(root), host, warn, debug };
}

export const DEFAULT_ROOT = '/run/berth/runtime';
