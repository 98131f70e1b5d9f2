import { createServer, type Server, type Socket } from 'net';
import { promises as fs } from 'fs';
import { decodeLine, encodeLine } from '@berth/runtime/dist/plan/codec';

// berthd's end of berth-init's sync socket when the shim starts berth-init: berthd listens,
// the shim connects and hands the connection to berth-init as fd 3, and berthd speaks
// native-helper/PROTOCOL.md over the accepted end exactly as the runtime library's
// InitProcess does over its socketpair.

export class InitHandshakeError extends Error {
  readonly code = 'ERR_INIT';
}

/** One berth-init session over an accepted connection: messages are read in order. */
export class InitSession {
  private buffered = '';
  private lines: string[][] = [];
  private waiting?: () => void;
  private closed = false;

  constructor(private readonly sync: Socket) {
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

  /** The plan, as encodePlan() makes it (ends with `end`). */
  sendPlan(plan: string): void {
    this.sync.write(plan);
  }

  send(fields: (string | number)[]): void {
    this.sync.write(encodeLine(fields));
  }

  /** Waits for `pid` or `ready`; an `error` line becomes an error with berth-init's message. */
  async expect(what: 'pid' | 'ready'): Promise<string[]> {
    const line = await this.next();
    if (line === undefined) throw new InitHandshakeError(`berth-init closed the sync socket while ${what} was expected`);
    if (line[0] === 'error') throw new InitHandshakeError(line[2] ?? `errno ${line[1]}`);
    if (line[0] !== what) throw new InitHandshakeError(`berth-init sent ${JSON.stringify(line[0])} where ${what} was expected`);
    return line;
  }

  /** After `ready` with no exec fifo: resolves at execve (EOF), rejects on an `error` line. */
  async expectExec(): Promise<void> {
    const line = await this.next();
    if (line === undefined) return;
    if (line[0] === 'error') throw new InitHandshakeError(line[2] ?? `errno ${line[1]}`);
    throw new InitHandshakeError(`berth-init sent ${JSON.stringify(line[0])} where exec was expected`);
  }

  close(): void {
    this.sync.destroy();
  }
}

/** A unix socket berthd listens on for one shim's berth-init connections. */
export class SyncListener {
  private pending: Socket[] = [];
  private waiters: ((s: Socket) => void)[] = [];

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {
    server.on('connection', (s: Socket) => {
      const w = this.waiters.shift();
      if (w) w(s);
      else this.pending.push(s);
    });
  }

  static async listen(path: string): Promise<SyncListener> {
    await fs.rm(path, { force: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    // Only root (berthd) may speak for berth-init.
    await fs.chmod(path, 0o600);
    return new SyncListener(path, server);
  }

  /** The next berth-init connection (the shim connects before it starts berth-init). */
  async accept(timeoutMs = 10_000): Promise<InitSession> {
    const s =
      this.pending.shift() ??
      (await new Promise<Socket>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(done), 1);
          reject(new InitHandshakeError(`no berth-init connected to ${this.path} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (sock: Socket) => {
          clearTimeout(timer);
          resolve(sock);
        };
        this.waiters.push(done);
      }));
    return new InitSession(s);
  }

  async close(): Promise<void> {
    for (const s of this.pending.splice(0)) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    await fs.rm(this.path, { force: true });
  }
}

/**
 * The create/exec handshake over a session: plan → `pid` → `setup(pid)` (cgroup, id maps,
 * hooks; resolves to the state JSON for `go`, '' for none) → `go` → `ready`. With `exec`,
 * also waits for berth-init's EOF at execve. Resolves to the process's host pid; on failure
 * the session is closed, which makes a waiting child exit.
 */
export async function initHandshake(session: InitSession, plan: string, setup: (pid: number) => Promise<string>, opts: { exec?: boolean } = {}): Promise<number> {
  try {
    session.sendPlan(plan);
    const pid = Number((await session.expect('pid'))[1]);
    session.send(['go', await setup(pid)]);
    await session.expect('ready');
    if (opts.exec) await session.expectExec();
    else session.close();
    return pid;
  } catch (err) {
    session.close();
    throw err;
  }
}
