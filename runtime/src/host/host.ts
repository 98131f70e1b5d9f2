// Everything the runtime library does to the machine goes through a Host, so the logic above
// it can be unit-tested against a recording fake (test/fake-host.ts) without root.

export interface Host {
  readFile(path: string): Promise<string>;
  /** Writes a whole small file (cgroup and proc files take one write). */
  writeFile(path: string, data: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  mkdirp(path: string): Promise<void>;
  /** rmdir of one directory; rejects with the errno as `code` like node's fs does. */
  rmdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  isDirectory(path: string): Promise<boolean>;
}
