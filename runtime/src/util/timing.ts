import { writeSync } from 'fs';
import { performance } from 'perf_hooks';

// BERTH_TIMING=1 prints, on stderr, how many ms after the process started each phase of a
// command ended: the answer to "where does the time of a container start go?".
const enabled = process.env.BERTH_TIMING === '1';

export function mark(phase: string): void {
  // fd 2 directly: process.stderr would make a stderr shared with the container non-blocking.
  if (enabled) writeSync(2, `berth-timing ${performance.now().toFixed(1).padStart(7)} ms  ${phase}\n`);
}
