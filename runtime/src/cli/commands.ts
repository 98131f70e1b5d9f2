import type { FlagSpec } from './args';
import type { RuntimeContext } from '../lib/context';

export interface Global {
  root: string;
}

export interface Command {
  flags: FlagSpec;
  usage: string;
  /** Returns the process exit status. */
  run(ctx: RuntimeContext, flags: Record<string, unknown>, args: string[]): Promise<number>;
}

/** Loaded on demand, so a command pays only for its own module. */
export const COMMANDS: Record<string, () => Command> = {
  spec: () => require('./spec').default,
  create: () => require('./create').default,
  start: () => require('./start').default,
  run: () => require('./run').default,
  exec: () => require('./exec').default,
  state: () => require('./state').default,
  kill: () => require('./kill').default,
  delete: () => require('./delete').default,
  list: () => require('./list').default,
  ls: () => require('./list').default,
  pause: () => require('./pause').default,
  resume: () => require('./resume').default,
  update: () => require('./update').default,
  ps: () => require('./ps').default,
  events: () => require('./events').default,
  features: () => require('./features').default,
};
