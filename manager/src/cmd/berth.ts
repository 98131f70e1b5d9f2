#!/usr/bin/env node
// berth: the Docker-style client of berthd (bundled to bin/berth). Everything is in ../cli;
// this only binds it to the process and exits once stdout has been flushed.

import { main } from '../cli/main';

main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err) => {
    process.stderr.write(`berth: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
