// Writing to stderr without Node's process.stderr stream.
//
// A runtime's stderr is often shared with the container: `run` and `exec` in the foreground
// hand the same pipe (the same open file description) to the container's process. Creating
// process.stderr on a pipe makes libuv set O_NONBLOCK on that description — for every process
// sharing it — and a container process that writes to a full pipe then gets EAGAIN instead of
// waiting (seen as a berth-init that printed nothing and exited at once). So the CLI writes
// with write(2) on fd 2 directly, blocking as runc's writes do, and never creates the stream.

import { writeSync } from 'fs';

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Writes all of `text` to fd 2; a closed or broken stderr loses it silently. */
export function writeStderr(text: string): void {
  let buf = Buffer.from(text);
  for (let tries = 0; buf.length > 0 && tries < 1000; ) {
    try {
      buf = buf.subarray(writeSync(2, buf));
    } catch (err) {
      // Someone else made the description non-blocking: wait for room, as a blocking write would.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      tries++;
      sleepMs(5);
    }
  }
}

/** Node's own warnings (deprecations, an fd closed on GC…) through writeStderr, not the stream. */
export function routeNodeWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error) => writeStderr(`berth-runtime: warning: (node) ${w.name}: ${w.message}\n`));
}
