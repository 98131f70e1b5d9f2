import type { Socket } from 'net';
import { decodeLine, encodeLine } from '../plan/codec';
import { BerthError } from '../util/errors';

/**
 * The library's end of berth-init's sync socket (native-helper/PROTOCOL.md), whoever made
 * the socket: a socketpair to a berth-init we spawned, or a connection berth-shim handed
 * to the berth-init it started. Messages are read in order; anything other than what the
 * step waits for is an ERR_INIT error naming both.
 */
export class SyncChannel {
  private buffered = '';
  private lines: string[][] = [];
  private waiting?: () => void;
  private closed = false;

  /** `closedDetail` adds to the error when the socket closes early (e.g. stage0's exit status). */
  constructor(
    private readonly sync: Socket,
    private readonly closedDetail: () => Promise<string> = async () => '',
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
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  private async next(): Promise<string[] | undefined> {
    while (!this.lines.length && !this.closed) await new Promise<void>((r) => (this.waiting = r));
    return this.lines.shift();
  }

  /** Waits for a message named `what`; an `error` line becomes an ERR_INIT error with its text. */
  async expect(what: 'pid' | 'ready'): Promise<string[]> {
    const line = await this.next();
    if (line === undefined) throw new BerthError('ERR_INIT', `berth-init closed the sync socket while ${what} was expected${await this.closedDetail()}`);
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

  /** Raw protocol text (the encoded plan, which ends with `end`). */
  write(text: string): void {
    this.sync.write(text);
  }

  send(fields: (string | number)[]): void {
    this.sync.write(encodeLine(fields));
  }

  close(): void {
    this.sync.destroy();
  }
}
