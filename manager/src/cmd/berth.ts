#!/usr/bin/env node
// berth: the Docker-style client of berthd (bundled to bin/berth.js, which bin/berth runs).
// Everything is in ../cli; this only binds it to the process and exits once stdout has been
// flushed.

import { main } from '../cli/main';

// stdin by getter: node builds process.stdin on first access (a stream over the pipe, tty or
// file: ~4 ms), and most commands never read it.
const io = {
  get stdin() {
    return process.stdin;
  },
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
};

main(process.argv.slice(2), io).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err) => {
    process.stderr.write(`berth: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
