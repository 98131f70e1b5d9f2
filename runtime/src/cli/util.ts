import { invalidArgument } from '../util/errors';

/** The single container id a command takes, as runc words the error. */
export function oneId(args: string[], command: string, max = 1): string {
  if (args.length < 1) throw invalidArgument(`"${command}" requires a container id`);
  if (args.length > max) throw invalidArgument(`"${command}" takes ${max === 1 ? 'one argument' : `at most ${max} arguments`}, got ${args.length}`);
  return args[0]!;
}
