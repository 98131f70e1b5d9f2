import { promises as fs } from 'fs';
import type { Host } from './host';

export const realHost: Host = {
  readFile: (path) => fs.readFile(path, 'utf8'),
  writeFile: (path, data) => fs.writeFile(path, data),
  exists: (path) => fs.access(path).then(() => true, () => false),
  mkdirp: async (path) => {
    await fs.mkdir(path, { recursive: true });
  },
  rmdir: (path) => fs.rmdir(path),
  readdir: (path) => fs.readdir(path),
  isDirectory: (path) => fs.stat(path).then((s) => s.isDirectory(), () => false),
};
