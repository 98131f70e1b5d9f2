#!/usr/bin/env node
// Entry point of the bundled bin/berth-runtime.
import { main } from './main';
import { mark } from '../util/timing';
import { routeNodeWarnings } from './stderr';

// Before anything can warn: Node's default printer would create process.stderr (stderr.ts).
routeNodeWarnings();

mark('node started, script loaded');

// Until main settles, a drained event loop (a promise nobody resolves) must not look like success.
process.exitCode = 1;
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
