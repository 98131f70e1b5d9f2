#!/usr/bin/env node
// Benchmark (issue 6, task H): berthd's layer applier (manager/dist/core/diff's applyLayer)
// against GNU tar on the three gzip layers of the Debian minbase fixture (`make fixtures`).
//
// Per round, interleaved and the order rotated: each layer on its own into a fresh directory,
// by applyLayer (in this process, as berthd runs it) and by `tar -xzf` (GNU tar, run as root:
// it keeps owners and modes too, but sets no xattrs from PAX and checks no confinement); then
// all three layers at once, as a staged overlay pull applies them (applyLayer: three calls in
// this process; tar: three processes). Every target dir sits in one temp dir under /var/tmp
// (the filesystem of /var/lib/berth on this VM), removed at the end (FS=quiet, the default)
// or right after its run (FS=churn; see timed() for the difference). Medians in ms, applyLayer/tar ratios. ROUNDS=N (5).
// `node --cpu-prof bench/apply.js` profiles it (ONLY=berth skips tar).
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { repo, median, rotate, hrms } = require('./lib');

const ROUNDS = Number(process.env.ROUNDS || 5);
const ONLY = process.env.ONLY || '';
const CHURN = process.env.FS === 'churn';
const { applyLayer } = require(path.join(repo, 'manager', 'dist', 'core', 'diff'));

function fixtureLayers() {
  const r = spawnSync(process.execPath, [path.join(repo, 'e2e', 'fixtures', 'debian-image.js'), '--print'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error('the Debian fixture could not be built (make fixtures)');
  const layout = r.stdout.trim().split('\n').pop();
  const blob = (d) => path.join(layout, 'blobs', d.replace(':', '/'));
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), 'utf8'));
  return manifest.layers.map((l, i) => ({ name: `layer${i + 1}`, file: blob(l.digest), mediaType: l.mediaType, size: l.size }));
}

const scratch = fs.mkdtempSync(path.join('/var/tmp', 'bench-apply-'));
let seq = 0;
const freshDir = () => {
  const d = path.join(scratch, String(seq++));
  fs.mkdirSync(d);
  return d;
};
const removeDir = (d) => fs.rmSync(d, { recursive: true, force: true });
const done = [];

async function berthApply(layer, dir) {
  await applyLayer(fs.createReadStream(layer.file, { highWaterMark: 1 << 20 }), dir, { overlay: true, mediaType: layer.mediaType });
}

function tarApply(layer, dir) {
  return new Promise((resolve, reject) => {
    const c = spawn('tar', ['-xzf', layer.file, '-C', dir, '--same-owner', '--same-permissions'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (b) => (err += b));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar ${layer.file}: ${err || code}`))));
  });
}

async function timed(fn, layers) {
  const dirs = layers.map(() => freshDir());
  const t0 = process.hrtime.bigint();
  await Promise.all(layers.map((l, i) => fn(l, dirs[i])));
  const ms = hrms(t0);
  // FS=quiet (default): removed at the end, not now. ext4 without a journal (this VM's) skips
  // inodes freed in the last ~30 s when it allocates new ones (recently_deleted(), a scan per
  // new inode), so the next run would pay for this one's removal. FS=churn: removed now, as
  // after `rmi` between pull.js's rounds: what a pull right after a removal meets.
  if (CHURN) dirs.forEach(removeDir);
  else done.push(...dirs);
  return ms;
}

async function main() {
  const layers = fixtureLayers();
  const tools = [['berth', berthApply], ['tar', tarApply]].filter(([n]) => !ONLY || n === ONLY);
  const cases = [...layers.map((l) => ({ name: l.name, layers: [l] })), { name: 'all 3 at once', layers }];
  const times = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      for (const [tool, fn] of rotate(tools, round)) {
        (times[`${c.name}/${tool}`] ??= []).push(await timed(fn, c.layers));
      }
    }
  }
  console.log(`applyLayer vs tar -xzf, FS=${CHURN ? 'churn' : 'quiet'}, ${ROUNDS} rounds, medians (ms), load ${os.loadavg()[0].toFixed(2)}`);
  for (const c of cases) {
    const size = c.layers.reduce((s, l) => s + l.size, 0);
    const b = times[`${c.name}/berth`] ? median(times[`${c.name}/berth`]) : NaN;
    const t = times[`${c.name}/tar`] ? median(times[`${c.name}/tar`]) : NaN;
    console.log(`${c.name.padEnd(14)} ${(size / 1e6).toFixed(1).padStart(5)} MB gz  berth ${b.toFixed(0).padStart(6)}  tar ${t.toFixed(0).padStart(6)}  ratio ${(b / t).toFixed(2)}`);
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    done.forEach(removeDir);
    removeDir(scratch);
  });
