import { spawn, type ChildProcess, type StdioOptions } from 'child_process';
import type { Socket } from 'net';
import { existsSync } from 'fs';
import { join, dirname } from 'path';
import { SyncChannel } from './sync-channel';

/** Where berth-init lives: $BERTH_INIT, else beside the running script (bin/), else on PATH. */
export function initBinary(): string {
  if (process.env.BERTH_INIT) return process.env.BERTH_INIT;
  for (const dir of [dirname(process.argv[1] ?? ''), join(__dirname, '..', '..', '..', 'bin'), __dirname]) {
    const candidate = join(dir, 'berth-init');
    if (existsSync(candidate)) return candidate;
  }
  return 'berth-init';
}

export interface InitSpawnOptions {
  /** fds the container gets as 3, 4, … (`--preserve-fds`): the caller's own 3.. by default. */
  preserveFds?: number;
  /** stdio for the container: inherited from this process unless given. */
  stdio?: [number | 'inherit' | 'ignore', number | 'inherit' | 'ignore', number | 'inherit' | 'ignore'];
}

/** One run of berth-init that we spawned: the stage0 process and the sync channel to it. */
export class InitProcess {
  readonly exited: Promise<number>;
  /** The sync socket to stage0, with the plan written. */
  readonly channel: SyncChannel;

  private constructor(
    readonly stage0: ChildProcess,
    sync: Socket,
  ) {
    this.exited = new Promise((resolve) => {
      stage0.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0)));
    });
    this.channel = new SyncChannel(sync, async () => {
      const code = await Promise.race([this.exited, new Promise<number>((r) => setTimeout(() => r(-1), 200))]);
      return code >= 0 ? ` (exit status ${code})` : '';
    });
  }

  static spawn(plan: string, opts: InitSpawnOptions = {}): InitProcess {
    const stdio: StdioOptions = [...(opts.stdio ?? ['inherit', 'inherit', 'inherit']), 'pipe'];
    for (let i = 0; i < (opts.preserveFds ?? 0); i++) stdio.push(3 + i);
    // Its own process group: a terminal's ^C reaches us, and we decide what the container gets.
    const stage0 = spawn(initBinary(), ['init'], { stdio, detached: true });
    const init = new InitProcess(stage0, stage0.stdio[3] as Socket);
    stage0.on('error', () => undefined);
    init.channel.write(plan);
    return init;
  }

  expect(what: 'pid' | 'ready'): Promise<string[]> {
    return this.channel.expect(what);
  }

  expectExec(): Promise<void> {
    return this.channel.expectExec();
  }

  send(fields: (string | number)[]): void {
    this.channel.send(fields);
  }

  closeSocket(): void {
    this.channel.close();
  }

  /** Lets go of the socket and stage0 so this process can exit while the container lives on. */
  release(): void {
    this.closeSocket();
    this.stage0.unref();
  }
}

function signalNumber(name: NodeJS.Signals): number {
  return (require('os').constants.signals as Record<string, number>)[name] ?? 0;
}
