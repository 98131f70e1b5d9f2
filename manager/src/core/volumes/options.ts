// The local driver's options (`volume create -o`, `--mount volume-opt=`), Docker's: `type`,
// `device` and `o` say what to mount on the volume's directory, as mount(8) would take them
// (`-o type=tmpfs -o device=tmpfs -o o=size=64m`, `-o type=none -o o=bind -o device=/srv/x`).
// Each needs the others as Docker's driver does (o needs device and type; device and type
// need each other). `size` (a quota) needs quota support berth does not have.

import { invalidArgument } from '../errors';

const VALID = ['type', 'o', 'device', 'size'];
const MANDATORY: Record<string, string[]> = { device: ['type'], type: ['device'], o: ['device', 'type'] };

export function validateDriverOptions(opts: Record<string, string>): void {
  for (const key of Object.keys(opts)) if (!VALID.includes(key)) throw invalidArgument(`invalid option: ${JSON.stringify(key)}`);
  if (opts.size !== undefined) throw invalidArgument('quota size requested but no quota support');
  for (const [key, needs] of Object.entries(MANDATORY)) {
    if (opts[key] === undefined) continue;
    for (const n of needs) if (opts[n] === undefined) throw invalidArgument(`missing required option: ${JSON.stringify(n)}`);
  }
  if (opts.type === '') throw invalidArgument('option "type" must not be empty');
  if (opts.device === '') throw invalidArgument('option "device" must not be empty');
}

/** True when the volume's directory gets a filesystem mounted on it. */
export const needsMount = (opts: Record<string, string>): boolean => Boolean(opts.type || opts.device);

/** mount(8)'s arguments for mounting the volume's filesystem at `target`. */
export function mountArgs(opts: Record<string, string>, target: string): string[] {
  const args: string[] = [];
  // "none" with o=bind is a bind mount: mount(8) recognises it from -o bind without -t
  if (opts.type && opts.type !== 'none') args.push('-t', opts.type);
  if (opts.o) args.push('-o', opts.o);
  args.push(opts.device!, target);
  return args;
}

/** The same options, with a password in `o` hidden (what error messages and logs show). */
export const redactOptions = (o: string): string => o.replace(/(password=)[^,]*/g, '$1********');
