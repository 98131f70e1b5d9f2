import { readFileSync, writeFileSync, accessSync, mkdirSync, rmdirSync, readdirSync, statSync } from 'fs';
import type { Host } from './host';

// The Host for the short-lived CLI: the same calls done synchronously. A container start
// makes ~50 small cgroupfs reads and writes; through the threadpool each costs a thread
// round trip (~0.5–1 ms here), synchronously ~20 µs. berthd, which must not block, uses
// realHost instead.
const wrap = <A extends unknown[], R>(fn: (...a: A) => R) => (...a: A): Promise<R> => {
  try {
    return Promise.resolve(fn(...a));
  } catch (err) {
    return Promise.reject(err);
  }
};

export const syncHost: Host = {
  readFile: wrap((path: string) => readFileSync(path, 'utf8')),
  writeFile: wrap((path: string, data: string) => writeFileSync(path, data)),
  exists: wrap((path: string) => {
    try {
      accessSync(path);
      return true;
    } catch {
      return false;
    }
  }),
  mkdirp: wrap((path: string) => {
    mkdirSync(path, { recursive: true });
  }),
  rmdir: wrap((path: string) => rmdirSync(path)),
  readdir: wrap((path: string) => readdirSync(path)),
  isDirectory: wrap((path: string) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  }),
};
