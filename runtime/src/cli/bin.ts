#!/usr/bin/env node
// Entry point of the bundled bin/berth-runtime.
import { main } from './main';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
