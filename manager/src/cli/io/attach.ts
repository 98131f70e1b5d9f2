// An attach session: the client's side of berth.io.v1.IO/Attach (proto/berth/io/v1/io.proto),
// used by `run` (without -d), `start -a`, `attach` and `exec`.
//
//   ready   berthd's relay reaches the process (a task's: connected to its shim, so `run` may
//           start the task and miss no output; an exec's: registered, so `exec` may start it)
//   done    the output has ended (the process and whatever shared its stdio are gone), or the
//           user detached (the detach keys), or close() was called
//
// With a terminal (tty) and a terminal on our side: our stdin goes raw for the session (keys,
// ctrl-c included, reach the process as bytes), and our window size follows the process's pty
// (now, and on every SIGWINCH, through Tasks.ResizePty). Without a terminal and with sigProxy,
// the signals a user sends berth (ctrl-c's SIGINT, kill) are sent on to the process
// (Tasks.Kill), as Docker's --sig-proxy does.

import { constants } from 'os';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { CommandContext } from '../command';
import { DEFAULT_DETACH_KEYS, DetachMatcher, parseDetachKeys } from './detach-keys';

export interface AttachSessionOptions {
  containerId: string;
  execId?: string;
  stdin: boolean;
  tty: boolean;
  /** Docker's --detach-keys (default ctrl-p,ctrl-q). */
  detachKeys?: string;
  sigProxy: boolean;
  /** Output streams to print (default both). */
  streams?: ('stdout' | 'stderr')[];
  /**
   * Whether the end of our stdin closes the process's stdin (Docker's StdinOnce; default true:
   * `echo x | berth run -i … cat` ends). `berth attach` says false: the container's stdin
   * stays open for the next client.
   */
  closeStdin?: boolean;
}

export interface AttachSession {
  ready: Promise<void>;
  done: Promise<void>;
  close(): void;
  /** True once the user detached with the detach keys. */
  readonly detached: boolean;
}

/** The signals --sig-proxy forwards: what a user sends a foreground client, minus the ones Node keeps (SIGUSR1) or a terminal's own (SIGWINCH). */
const PROXIED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM', 'SIGCONT', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU'];

interface AttachResponse {
  ready: boolean;
  stdout: Buffer;
  stderr: Buffer;
  terminal: boolean;
}

interface TtyIn {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(raw: boolean): unknown;
}

interface TtyOut {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export async function attachSession(ctx: CommandContext, opts: AttachSessionOptions): Promise<AttachSession> {
  const d = await ctx.daemon();
  const { io } = ctx;
  const keys = parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS, ctx.commandPath);
  const streams = opts.streams ?? ['stdout', 'stderr'];
  const call = d.io.Attach() as unknown as ClientDuplexStream<object, AttachResponse>;
  const cleanups: (() => void)[] = [];
  let finished = false;
  let detached = false;

  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((readyResolve = res), (readyReject = rej)));
  let doneResolve!: () => void;
  let doneReject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((doneResolve = res), (doneReject = rej)));
  // Whoever awaits only one of them must not see the other as an unhandled rejection.
  ready.catch(() => undefined);
  done.catch(() => undefined);

  const finish = (err?: Error) => {
    if (finished) return;
    finished = true;
    for (const c of cleanups.splice(0).reverse()) c();
    if (err) {
      readyReject(err);
      doneReject(err);
    } else {
      readyResolve(); // a session closed before it was ready is not an error of its own
      doneResolve();
    }
  };

  const stdoutTty = io.stdout as TtyOut;

  const resize = async (): Promise<boolean> => {
    if (!stdoutTty.columns || !stdoutTty.rows) return true;
    try {
      await d.tasks.ResizePty({ containerId: opts.containerId, execId: opts.execId ?? '', width: stdoutTty.columns, height: stdoutTty.rows });
      return true;
    } catch {
      return false; // an exec not started yet: tried again
    }
  };

  const startTerminal = () => {
    if (!opts.tty) return;
    // stdin only when it is attached: reading process.stdin makes its stream (~3 ms)
    const stdinTty = opts.stdin ? (io.stdin as TtyIn) : undefined;
    if (stdinTty?.isTTY && stdinTty.setRawMode) {
      const wasRaw = !!stdinTty.isRaw;
      stdinTty.setRawMode(true);
      cleanups.push(() => stdinTty.setRawMode?.(wasRaw));
    }
    if (!stdoutTty.isTTY) return;
    // An exec's pty exists only once its Start ran: until then the first size is retried.
    let tries = 0;
    const first = async () => {
      if (finished || (await resize()) || ++tries > 50) return;
      const t = setTimeout(() => void first(), 100);
      cleanups.push(() => clearTimeout(t));
    };
    void first();
    const onWinch = () => void resize();
    process.on('SIGWINCH', onWinch);
    cleanups.push(() => process.off('SIGWINCH', onWinch));
  };

  const startSignalProxy = () => {
    if (opts.tty || !opts.sigProxy) return;
    for (const sig of PROXIED_SIGNALS) {
      const handler = () => {
        d.tasks.Kill({ containerId: opts.containerId, execId: opts.execId ?? '', signal: constants.signals[sig], all: false }).catch((e: Error) => {
          ctx.log.debug(`forwarding ${sig}: ${e.message}`);
        });
      };
      process.on(sig, handler);
      cleanups.push(() => process.off(sig, handler));
    }
  };

  const startInput = () => {
    if (!opts.stdin) return;
    const matcher = new DetachMatcher(keys);
    const onData = (chunk: Buffer | string) => {
      const { pass, detached: hit } = matcher.feed(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      if (pass.length) call.write({ stdin: pass });
      if (hit) {
        detached = true;
        call.cancel();
        finish();
      }
    };
    const onEnd = () => call.end();
    io.stdin.on('data', onData);
    io.stdin.once('end', onEnd);
    cleanups.push(() => {
      io.stdin.off('data', onData);
      io.stdin.off('end', onEnd);
      io.stdin.pause();
    });
    io.stdin.resume();
  };

  const write = (out: NodeJS.WritableStream, data: Buffer) => {
    if (!out.write(data)) {
      call.pause();
      out.once('drain', () => call.resume());
    }
  };

  call.on('data', (r: AttachResponse) => {
    if (r.ready) {
      readyResolve();
      startTerminal();
      startSignalProxy();
      startInput();
    }
    if (r.stdout?.length && streams.includes('stdout')) write(io.stdout, r.stdout);
    if (r.stderr?.length && streams.includes('stderr')) write(io.stderr, r.stderr);
  });
  call.on('end', () => {
    // What was written to stdout is handed over before done says the output is complete.
    io.stdout.write('', () => finish());
  });
  call.on('error', (err: Error & { code?: number }) => {
    // 1 = CANCELLED: our own cancel (detach, close).
    if (err.code === 1) finish();
    else finish(err);
  });

  call.write({
    open: {
      containerId: opts.containerId,
      execId: opts.execId ?? '',
      stdin: opts.stdin,
      stdout: streams.includes('stdout'),
      stderr: streams.includes('stderr'),
      closeStdin: opts.stdin && (opts.closeStdin ?? true),
    },
  });
  if (!opts.stdin) call.end();

  return {
    ready,
    done,
    close: () => {
      if (finished) return;
      call.cancel();
      finish();
    },
    get detached() {
      return detached;
    },
  };
}
