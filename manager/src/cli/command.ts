// What a command is: its options and usage (for parsing and help) and a run function that
// gets the parsed arguments and a context. Each command lives in its own module under
// commands/ and exports `command`; commands.ts lists them without loading them.

import type { Readable, Writable } from 'node:stream';
import type { Daemon } from './daemon';
import type { Logger, LogLevel } from './log';
import type { OptionSpec, ParsedArgs } from './options';

/** The process's streams and environment, passed in so that tests can run berth in-process. */
export interface IO {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable;
  env: Record<string, string | undefined>;
}

export interface GlobalOptions {
  /** The daemon's address as a grpc target: unix:///run/berth/berthd.sock. */
  host: string;
  namespace: string;
  logLevel: LogLevel;
}

export interface CommandContext {
  io: IO;
  globals: GlobalOptions;
  log: Logger;
  /** "berth load", "berth image load": for messages. */
  commandPath: string;
  /** The connection to berthd, made on first use (commands that need none never load gRPC). */
  daemon(): Promise<Daemon>;
}

export interface CommandSpec {
  /** "[OPTIONS] IMAGE [IMAGE...]" */
  usage: string;
  /** One line, as in `berth --help`. */
  summary: string;
  /** More text for `berth CMD --help`, after the summary. */
  description?: string;
  options: OptionSpec[];
  /** Exact argument counts accepted; checked before run (UsageError otherwise). */
  args: { min: number; max?: number };
  /** The first argument ends the options (run, exec: the rest is the container's command). */
  stopAtFirstArgument?: boolean;
  /** Returns the exit status (0 when it returns nothing). */
  run(ctx: CommandContext, parsed: ParsedArgs): Promise<number | void>;
}

export interface CommandModule {
  command: CommandSpec;
}
