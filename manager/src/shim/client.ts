import { connect, type Socket } from 'net';
import { join } from 'path';
import { decodeLine, encodeLine } from '@berth/runtime/dist/plan/codec';

// The client of a shim's control socket (shim/PROTOCOL.md "Control socket"). One request at a
// time per connection; `wait` and `attach` get connections of their own so they block nothing.

export type ShimState =
  | { status: 'created' }
  | { status: 'running'; pid: number }
  | { status: 'exited'; exitStatus: number; exitedAt: string };

export interface ShimExit {
  /** Exit code, or 128 + the signal's number. */
  status: number;
  /** RFC 3339 with nanoseconds, UTC. */
  exitedAt: string;
}

export interface ShimExecOptions {
  terminal?: boolean;
  stdin?: string;
  openStdin?: boolean;
  stdout?: string;
  stderr?: string;
  /** stdout/stderr are pipes the shim reads even without FIFOs, for `attach-exec` clients. */
  attachable?: boolean;
}

export interface AttachOptions {
  /** Only this stream (default: both, mixed as read). */
  stream?: 'stdout' | 'stderr';
  /** An exec's process instead of the container's (`attach-exec`). */
  execId?: string;
  /** This connection's EOF closes the process's stdin, after every byte sent (Docker's StdinOnce). */
  closeStdin?: boolean;
}

export class ShimError extends Error {
  readonly code = 'ERR_SHIM';
}

/** One connection: requests are queued and answered in order. */
class Connection {
  private buffered = Buffer.alloc(0);
  private queue: { resolve: (f: string[]) => void; reject: (e: Error) => void }[] = [];
  private failure?: Error;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      let nl: number;
      // Bytes, not text: after `attach` whatever follows the reply is the container's output.
      while (this.queue.length && (nl = this.buffered.indexOf(0x0a)) >= 0) {
        const line = this.buffered.subarray(0, nl).toString('utf8');
        this.buffered = this.buffered.subarray(nl + 1);
        const waiter = this.queue.shift();
        if (!waiter) continue;
        const fields = decodeLine(line);
        if (fields[0] === 'ok') waiter.resolve(fields.slice(1));
        else waiter.reject(new ShimError(fields[0] === 'error' ? fields.slice(1).join(' ') : `unexpected reply ${JSON.stringify(line)}`));
      }
    });
    const end = (err?: Error) => {
      this.failure ??= err ?? new ShimError('the shim closed the control connection');
      for (const w of this.queue.splice(0)) w.reject(this.failure);
    };
    socket.on('error', end);
    socket.on('close', () => end());
  }

  static open(path: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new Connection(socket));
      });
      socket.once('error', reject);
    });
  }

  request(fields: (string | number)[]): Promise<string[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.socket.write(encodeLine(fields));
    });
  }

  /** For `attach`: hand the socket over raw once the reply came, with nothing eaten. */
  detach(): { socket: Socket; rest: Buffer } {
    this.socket.pause();
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    this.socket.removeAllListeners('error');
    this.socket.on('error', () => undefined);
    return { socket: this.socket, rest: this.buffered };
  }

  close(): void {
    this.socket.destroy();
  }
}

export class ShimClient {
  private constructor(
    readonly controlSocket: string,
    private readonly conn: Connection,
  ) {}

  /** Connects to DIR/control.sock (DIR is the shim's state dir). */
  static async connect(stateDir: string): Promise<ShimClient> {
    const path = join(stateDir, 'control.sock');
    return new ShimClient(path, await Connection.open(path));
  }

  request(fields: (string | number)[]): Promise<string[]> {
    return this.conn.request(fields);
  }

  state(): Promise<ShimState> {
    return this.request(['state']).then(parseState);
  }

  stateExec(execId: string): Promise<ShimState> {
    return this.request(['state-exec', execId]).then(parseState);
  }

  async signal(sig: string | number): Promise<void> {
    await this.request(['signal', sig]);
  }

  async signalExec(execId: string, sig: string | number): Promise<void> {
    await this.request(['signal-exec', execId, sig]);
  }

  async resize(rows: number, cols: number): Promise<void> {
    await this.request(['resize', rows, cols]);
  }

  async resizeExec(execId: string, rows: number, cols: number): Promise<void> {
    await this.request(['resize-exec', execId, rows, cols]);
  }

  async closeStdin(): Promise<void> {
    await this.request(['close-stdin']);
  }

  async closeStdinExec(execId: string): Promise<void> {
    await this.request(['close-stdin-exec', execId]);
  }

  async reopenLog(): Promise<void> {
    await this.request(['reopen-log']);
  }

  /** Resolves when the container's process has exited (at once if it has). */
  wait(): Promise<ShimExit> {
    return this.waitOn(['wait']);
  }

  waitExec(execId: string): Promise<ShimExit> {
    return this.waitOn(['wait-exec', execId]);
  }

  /**
   * Asks the shim to start berth-init for an exec, connected to `syncSocket` (where the caller
   * listens and then runs the handshake). With a terminal, the plan's console socket is
   * `consoleSocketPath(stateDir, execId)`.
   */
  async exec(execId: string, syncSocket: string, opts: ShimExecOptions = {}): Promise<void> {
    const fields: string[] = ['exec', execId, syncSocket];
    if (opts.terminal) fields.push('--terminal');
    if (opts.stdin) fields.push('--stdin', opts.stdin);
    if (opts.openStdin) fields.push('--open-stdin');
    if (opts.stdout) fields.push('--stdout', opts.stdout);
    if (opts.stderr) fields.push('--stderr', opts.stderr);
    if (opts.attachable) fields.push('--attachable');
    await this.request(fields);
  }

  async deleteExec(execId: string): Promise<void> {
    await this.request(['delete-exec', execId]);
  }

  /**
   * A new connection carrying the process's raw output; what is written to it is its stdin.
   * The shim ends it (EOF) once every stream it carries has ended. It comes back paused, so no
   * byte is lost before the caller listens: add the 'data' listener, then resume().
   */
  async attach(stream?: 'stdout' | 'stderr', opts: Omit<AttachOptions, 'stream'> = {}): Promise<Socket> {
    const fields: string[] = opts.execId ? ['attach-exec', opts.execId] : ['attach'];
    if (stream) fields.push(stream);
    if (opts.closeStdin) fields.push('--close-stdin');
    const conn = await Connection.open(this.controlSocket);
    try {
      await conn.request(fields);
    } catch (err) {
      conn.close();
      throw err;
    }
    const { socket, rest } = conn.detach();
    if (rest.length) socket.unshift(rest);
    return socket;
  }

  /**
   * Starts the shim counting OOM kills in the memory cgroup `dir` (cgroup v1 or v2). Asking again
   * with the same dir (after a berthd restart) changes nothing.
   */
  async oomWatch(dir: string): Promise<void> {
    await this.request(['oom-watch', dir]);
  }

  /** The OOM kills counted since oomWatch. */
  async oomCount(): Promise<number> {
    return Number((await this.request(['oom']))[0]);
  }

  /**
   * Resolves with the count once it is above `seen` (at once if it is). It holds this
   * connection until then: call it on a client of its own.
   */
  async waitOom(seen: number): Promise<number> {
    return Number((await this.request(['wait-oom', seen]))[0]);
  }

  /** Refused while the container's process runs; then the shim removes its sockets and exits. */
  async shutdown(): Promise<void> {
    await this.request(['shutdown']);
  }

  close(): void {
    this.conn.close();
  }

  private async waitOn(fields: string[]): Promise<ShimExit> {
    const conn = await Connection.open(this.controlSocket);
    try {
      const [status, exitedAt] = await conn.request(fields);
      return { status: Number(status), exitedAt: exitedAt! };
    } finally {
      conn.close();
    }
  }
}

export function consoleSocketPath(stateDir: string, execId?: string): string {
  return join(stateDir, execId ? `console-${execId}.sock` : 'console.sock');
}

function parseState(f: string[]): ShimState {
  if (f[0] === 'created') return { status: 'created' };
  if (f[0] === 'running') return { status: 'running', pid: Number(f[1]) };
  if (f[0] === 'exited') return { status: 'exited', exitStatus: Number(f[1]), exitedAt: f[2]! };
  throw new ShimError(`unexpected state ${JSON.stringify(f)}`);
}
