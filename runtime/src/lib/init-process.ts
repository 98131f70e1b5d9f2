import { spawn, type ChildProcess, type StdioOptions } from 'child_process';
import type { Socket } from 'net';
import { existsSync } from 'fs';
import { join, dirname } from 'path';
import { decodeLine, encodeLine } from '../plan/codec';
import { BerthError } from '../util/errors';

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

/**
 * One run of berth-init: the stage0 process and the sync socket. Messages are read in order
 * with `expect`; anything else than what the step waits for is a typed error naming both.
 */
export class InitProcess {
  private buffered = '';
  private lines: string[][] = [];
  private waiting?: (line: string[] | undefined) => void;
  private closed = false;
  readonly exited: Promise<number>;

  private constructor(
    readonly stage0: ChildProcess,
    private readonly sync: Socket,
  ) {
    sync.setEncoding('utf8');
    sync.on('data', (chunk: string) => {
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        this.lines.push(decodeLine(this.buffered.slice(0, nl)));
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.wake();
    });
    const onEnd = () => {
      this.closed = true;
      this.wake();
    };
    sync.on('end', onEnd);
    sync.on('close', onEnd);
    sync.on('error', onEnd);
    this.exited = new Promise((resolve) => {
      stage0.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0)));
    });
  }

  static spawn(plan: string, opts: InitSpawnOptions = {}): InitProcess {
    const stdio: StdioOptions = [...(opts.stdio ?? ['inherit', 'inherit', 'inherit']), 'pipe'];
    for (let i = 0; i < (opts.preserveFds ?? 0); i++) stdio.push(3 + i);
    // Its own process group: a terminal's ^C reaches us, and we decide what the container gets.
    const stage0 = spawn(initBinary(), ['init'], { stdio, detached: true });
    const sync = stage0.stdio[3] as Socket;
    const init = new InitProcess(stage0, sync);
    stage0.on('error', () => undefined);
    sync.write(plan);
    return init;
  }

  private wake(): void {
    const w = this.waiting;
    if (!w) return;
    if (this.lines.length) {
      this.waiting = undefined;
      w(this.lines.shift());
    } else if (this.closed) {
      this.waiting = undefined;
      w(undefined);
    }
  }

  private next(): Promise<string[] | undefined> {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** Waits for a message named `what`; an `error` line becomes an ERR_INIT error with its text. */
  async expect(what: 'pid' | 'ready'): Promise<string[]> {
    const line = await this.next();
    if (line === undefined) {
      const code = await Promise.race([this.exited, new Promise<number>((r) => setTimeout(() => r(-1), 200))]);
      throw new BerthError('ERR_INIT', `berth-init closed the sync socket while ${what} was expected${code >= 0 ? ` (exit status ${code})` : ''}`);
    }
    if (line[0] === 'error') throw new BerthError('ERR_INIT', line[2] ?? `errno ${line[1]}`);
    if (line[0] !== what) throw new BerthError('ERR_INIT', `berth-init sent ${JSON.stringify(line[0])} where ${what} was expected`);
    return line;
  }

  /** After `ready` with no exec fifo: resolves at execve (EOF), rejects on an `error` line. */
  async expectExec(): Promise<void> {
    const line = await this.next();
    if (line === undefined) return;
    if (line[0] === 'error') throw new BerthError('ERR_INIT', line[2] ?? `errno ${line[1]}`);
    throw new BerthError('ERR_INIT', `berth-init sent ${JSON.stringify(line[0])} where exec was expected`);
  }

  send(fields: (string | number)[]): void {
    this.sync.write(encodeLine(fields));
  }

  closeSocket(): void {
    this.sync.destroy();
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
