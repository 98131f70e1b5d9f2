import { createServer, type Server, type Socket } from 'net';
import { promises as fs } from 'fs';
import { SyncChannel } from '@berth/runtime/dist/lib/sync-channel';
import { BerthError } from '@berth/runtime/dist/util/errors';

// berthd's end of berth-init's sync socket when the shim starts berth-init: berthd listens,
// the shim connects and hands the connection to berth-init as fd 3, and berthd speaks
// native-helper/PROTOCOL.md over the accepted end with the runtime library's SyncChannel,
// the same one InitProcess uses over its socketpair.

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
  async accept(timeoutMs = 10_000): Promise<SyncChannel> {
    const s =
      this.pending.shift() ??
      (await new Promise<Socket>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(done), 1);
          reject(new BerthError('ERR_INIT', `no berth-init connected to ${this.path} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (sock: Socket) => {
          clearTimeout(timer);
          resolve(sock);
        };
        this.waiters.push(done);
      }));
    return new SyncChannel(s);
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
export async function initHandshake(session: SyncChannel, plan: string, setup: (pid: number) => Promise<string>, opts: { exec?: boolean } = {}): Promise<number> {
  try {
    session.write(plan);
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
