#!/usr/bin/env node
// bin/berth: runs the berth client, bin/berth.js (one esbuild bundle of src/cmd/berth.ts), from
// V8's code cache. Written to bin/ by manager/scripts/link-berth.js; nothing here is berth's
// logic, only how its code gets compiled.
//
// Why: node compiles a 2 MB script from scratch on every start (~20 ms here) and then each
// function the first time it runs (~10–20 ms more for `run`), and a `berth` command is a new
// process every time. V8 can serialize the compiled code of a script after it ran
// (vm.Script#createCachedData) and take it back on the next start instead of compiling. So the
// first successful run of a command writes the code it compiled to
//   ${BERTH_CODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/<bundle sha256 prefix>-<command>-<node>.cache
// and later runs of that command start from it. <node> is a hash of node's version and flags
// (V8 refuses code made under other flags; two node set-ups each keep their own file instead of
// overwriting each other's on every run).
//
// Never stale: a cache file names the bundle by the sha256 that link-berth.js put in the
// bundle's last line, and its header also records the bundle's size and mtime as read now, so
// a bundle rebuilt or edited in place is never run with another bundle's code (V8 itself checks
// only the source length, its own version and flags). Caches of other builds are removed when a
// new one is written. Only files owned by this user and writable by nobody else are read (a
// cache is code). Anything that does not fit — no trailer, no HOME, an unreadable or rejected
// cache, a read-only directory — just means compiling as node would; BERTH_CODE_CACHE=off turns
// it off.
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const zlib = require('zlib'); // for crc32; node loads the module's code from its own snapshot

const BUNDLE = path.join(__dirname, 'berth.js');
const TRAILER = /\/\/# berth-bundle sha256=([0-9a-f]{64})\n$/;
const MAGIC = 'berth-code-cache 1';

/** Global options that take a value (src/cli/main.ts GLOBAL_OPTIONS): skipped with it when looking for the command. */
const VALUE_OPTIONS = new Set(['-H', '--host', '-l', '--log-level', '--namespace']);

/** The command words a cache is chosen by: `berth -H x image ls -q` → ['image', 'ls']. */
function commandWords(argv) {
  const words = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const a = argv[i];
    if (words.length === 0 && VALUE_OPTIONS.has(a)) i++;
    else if (a.startsWith('-')) continue;
    else if (/^[a-z][a-z0-9-]{0,30}$/.test(a)) words.push(a);
    else break;
  }
  return words;
}

/** 32-bit FNV-1a, as 8 hex digits: names a node set-up (version, flags) in a file name. */
function fnv1a(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function cacheDir() {
  const env = process.env.BERTH_CODE_CACHE;
  if (env === 'off' || env === '0') return undefined;
  if (env) return env;
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? path.join(process.env.HOME, '.cache') : '');
  return base ? path.join(base, 'berth') : undefined;
}

/** Ours and writable only by us: anyone else who can write a cache can run code as us. */
function isPrivate(st) {
  return st.uid === process.geteuid() && (st.mode & 0o022) === 0;
}

function readBundle() {
  const fd = fs.openSync(BUNDLE, 'r');
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    const buf = Buffer.allocUnsafe(Number(st.size));
    for (let off = 0; off < buf.length; ) {
      const n = fs.readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) throw new Error(`${BUNDLE}: shorter than its size`);
      off += n;
    }
    return { buf, stamp: `${st.size} ${st.mtimeNs}` };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The cache's V8 data if its header names this very bundle (sha256, size, mtime) and node
 * set-up, and the data's CRC-32 (first on the line) matches: V8 does not checksum a code cache
 * it is given (not in release builds), and damaged data crashes it.
 */
function readCache(file, header) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !isPrivate(st)) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    if (fs.readSync(fd, buf, 0, buf.length, 0) !== buf.length) return undefined;
    const nl = buf.indexOf(10);
    if (nl < 0) return undefined;
    const line = buf.latin1Slice(0, nl);
    const sp = line.indexOf(' ');
    const data = buf.subarray(nl + 1);
    if (line.slice(sp + 1) !== header || line.slice(0, sp) !== zlib.crc32(data).toString(16)) return undefined;
    return data;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes the script's compiled code for `key`, atomically, and drops caches of other bundles. */
function writeCache(dir, sha, file, header, script) {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!isPrivate(fs.statSync(dir))) return;
    const tmp = `${file}.${process.pid}.tmp`;
    const data = script.createCachedData();
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(`${zlib.crc32(data).toString(16)} ${header}\n`), data]), { mode: 0o600 });
    fs.renameSync(tmp, file);
    // Other builds' caches go; so do temp files a killed writer left (an hour is plenty).
    for (const name of fs.readdirSync(dir)) {
      const other = path.join(dir, name);
      if (name.endsWith('.cache') && !name.startsWith(`${sha.slice(0, 16)}-`)) fs.rmSync(other, { force: true });
      else if (name.endsWith('.tmp') && Date.now() - fs.statSync(other).mtimeMs > 3_600_000) fs.rmSync(other, { force: true });
    }
  } catch {
    // a cache is an optimisation: a read-only or full disk only means compiling next time too
  }
}

function main() {
  const started = performance.now();
  let bundle;
  try {
    bundle = readBundle();
  } catch (err) {
    process.stderr.write(`berth: cannot read the client's code ${BUNDLE}: ${err.message} (bin/berth needs berth.js beside it: make build / make install)\n`);
    process.exit(1);
  }
  const { buf, stamp } = bundle;
  const trailer = TRAILER.exec(buf.latin1Slice(Math.max(0, buf.length - 100), buf.length));
  const sha = trailer ? trailer[1] : undefined;
  // zlib.crc32: node 20.15 and later
  const dir = sha && typeof zlib.crc32 === 'function' ? cacheDir() : undefined;
  const words = commandWords(process.argv.slice(2));
  const node = `${process.version} ${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS || ''}`;
  const header = `${MAGIC} ${sha} ${stamp} ${node.replace(/\n/g, ' ')}`;
  const fileFor = (key) => path.join(dir, `${sha.slice(0, 16)}-${key}-${fnv1a(node)}.cache`);
  let cachedData;
  let cacheFile;
  if (dir && words.length) {
    // A management command's cache is under both words (image-ls), any other under one (run).
    for (const key of words.length === 2 ? [words.join('-'), words[0]] : [words[0]]) {
      cacheFile = fileFor(key);
      cachedData = readCache(cacheFile, header);
      if (cachedData) break;
    }
    try {
      if (!isPrivate(fs.statSync(dir))) cachedData = undefined;
    } catch {
      cachedData = undefined;
    }
  }

  // node's own CommonJS wrapper, so the bundle sees what it would as the main module.
  let source = buf.toString('utf8');
  if (source.startsWith('#!')) source = `//${source.slice(2)}`;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: BUNDLE,
    ...(cachedData ? { cachedData } : {}),
    ...(vm.constants && vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER ? { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER } : {}),
  });

  if (process.env.BERTH_TIMING === '1') {
    const how = !cachedData ? 'miss' : script.cachedDataRejected ? 'rejected' : 'hit';
    process.stderr.write(`berth-timing ${started.toFixed(1).padStart(8)} ms  launcher: node started\n`);
    process.stderr.write(`berth-timing ${performance.now().toFixed(1).padStart(8)} ms  launcher: bundle compiled, code cache ${dir ? `${how} (${cacheFile ?? 'no command'})` : 'off'}\n`);
  }

  // A cache made by this very node set-up that V8 still refuses would be refused again after a
  // rewrite: compile, and leave it (rather than paying for a new one on every run).
  if (dir && words.length && !cachedData) {
    // Written once the command has run (its functions compiled) and succeeded, under the
    // command path the client itself reports, so typos and --help runs make no files.
    process.once('exit', (code) => {
      const ran = globalThis[Symbol.for('berth.command')];
      if (code !== 0 || typeof ran !== 'string') return;
      const ranWords = ran.split(' ').slice(1);
      if (ranWords.length === 0 || ranWords.some((w, i) => w !== words[i])) return;
      writeCache(dir, sha, fileFor(ranWords.join('-')), header, script);
    });
  }

  const module_ = { exports: {}, filename: BUNDLE, id: '.', loaded: false };
  script.runInThisContext().call(module_.exports, module_.exports, require, module_, BUNDLE, __dirname);
}

main();
