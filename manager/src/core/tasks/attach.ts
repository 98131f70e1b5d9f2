// Attaching to a task's process (or an exec's) through its shim: the connections that carry
// the process's output and take its input (shim/PROTOCOL.md `attach`, `attach-exec`).
//
// The shim mixes the streams it sends on one connection, so stdout and stderr each get a
// connection of their own (Docker's clients print them apart); stdin is written to the first
// one. A terminal has one stream (the pty), so one connection. The shim ends each connection
// (EOF) once its streams have ended, which is how a reader knows it has every byte.

import type { Socket } from 'net';
import type { ShimClient } from '../../shim';

export interface AttachOptions {
  /** Input for the process is written to the connection (`stdin` of AttachedStreams). */
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** The end of this attach's input closes the process's stdin (Docker's StdinOnce; not with a terminal). */
  closeStdin: boolean;
}

export interface AttachedStreams {
  /** Output, by the stream it is (a terminal's is all stdout). Absent: not asked for. */
  stdout?: Socket;
  stderr?: Socket;
  /** Where input goes (one of the above, or a connection whose output is not wanted); absent without stdin. */
  stdin?: Socket;
  /** Every connection, to close them all. */
  all: Socket[];
}

/** Makes the shim connections for `opts` (paused: add 'data' listeners, then resume). */
export async function connectAttach(client: ShimClient, terminal: boolean, opts: AttachOptions, execId?: string): Promise<AttachedStreams> {
  const all: Socket[] = [];
  const connect = async (stream: 'stdout' | 'stderr' | undefined, withStdin: boolean) => {
    const s = await client.attach(stream, { ...(execId ? { execId } : {}), closeStdin: withStdin && opts.closeStdin && !terminal });
    all.push(s);
    return s;
  };
  try {
    const out: AttachedStreams = { all };
    if (terminal) {
      const s = await connect(undefined, opts.stdin);
      if (opts.stdout || opts.stderr) out.stdout = s;
      if (opts.stdin) out.stdin = s;
      return out;
    }
    // The stdin connection first: it carries stdout when that is wanted, else only input.
    if (opts.stdout || opts.stdin) {
      const s = await connect('stdout', opts.stdin);
      if (opts.stdout) out.stdout = s;
      if (opts.stdin) out.stdin = s;
    }
    if (opts.stderr) out.stderr = await connect('stderr', false);
    return out;
  } catch (err) {
    for (const s of all) s.destroy();
    throw err;
  }
}
