#!/usr/bin/env node
// The last step of building the client (the Makefile's `ts` target):
//   node manager/scripts/link-berth.js BUNDLE BIN_DIR
// BUNDLE is esbuild's output for src/cmd/berth.ts. It becomes BIN_DIR/berth.js with a last line
// `//# berth-bundle sha256=<hex of everything before it>`, and BIN_DIR/berth becomes the
// launcher (berth-launcher.js beside this file), which runs berth.js from V8's code cache keyed
// by that hash. Both files are replaced by rename, so a berth started during a build reads
// either the old bundle or the new one, never half of one.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

function replace(file, data, mode) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

function main(argv) {
  if (argv.length !== 2) throw new Error('usage: link-berth.js BUNDLE BIN_DIR');
  const [bundleIn, binDir] = argv;
  let bundle = fs.readFileSync(bundleIn);
  if (bundle.length && bundle[bundle.length - 1] !== 10) bundle = Buffer.concat([bundle, Buffer.from('\n')]);
  const sha = crypto.createHash('sha256').update(bundle).digest('hex');
  const out = path.join(binDir, 'berth.js');
  const linked = Buffer.concat([bundle, Buffer.from(`//# berth-bundle sha256=${sha}\n`)]);
  // An unchanged bundle is left as it is: its mtime is part of what the code caches check.
  let same = false;
  try {
    same = fs.readFileSync(out).equals(linked);
  } catch {
    // not there yet
  }
  if (!same) replace(out, linked, 0o644);
  replace(path.join(binDir, 'berth'), fs.readFileSync(path.join(__dirname, 'berth-launcher.js')), 0o755);
  fs.rmSync(bundleIn, { force: true });
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`link-berth: ${err.message}\n`);
  process.exit(1);
}
