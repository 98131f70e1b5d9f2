// OCI mount options → mount(2) flags, propagation flags, and the data string the filesystem gets.

export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, SYNCHRONOUS: 16, REMOUNT: 32, MANDLOCK: 64,
  DIRSYNC: 128, NOSYMFOLLOW: 256, NOATIME: 1024, NODIRATIME: 2048, BIND: 4096, MOVE: 8192,
  REC: 16384, SILENT: 32768, UNBINDABLE: 1 << 17, PRIVATE: 1 << 18, SLAVE: 1 << 19,
  SHARED: 1 << 20, RELATIME: 1 << 21, STRICTATIME: 1 << 24, LAZYTIME: 1 << 25,
} as const;

// [flag, true = set it / false = clear it]
const FLAG_OPTIONS: Record<string, [number, boolean]> = {
  ro: [MS.RDONLY, true], rw: [MS.RDONLY, false],
  nosuid: [MS.NOSUID, true], suid: [MS.NOSUID, false],
  nodev: [MS.NODEV, true], dev: [MS.NODEV, false],
  noexec: [MS.NOEXEC, true], exec: [MS.NOEXEC, false],
  sync: [MS.SYNCHRONOUS, true], async: [MS.SYNCHRONOUS, false],
  dirsync: [MS.DIRSYNC, true], remount: [MS.REMOUNT, true],
  mand: [MS.MANDLOCK, true], nomand: [MS.MANDLOCK, false],
  noatime: [MS.NOATIME, true], atime: [MS.NOATIME, false],
  nodiratime: [MS.NODIRATIME, true], diratime: [MS.NODIRATIME, false],
  relatime: [MS.RELATIME, true], norelatime: [MS.RELATIME, false],
  strictatime: [MS.STRICTATIME, true], nostrictatime: [MS.STRICTATIME, false],
  lazytime: [MS.LAZYTIME, true], nolazytime: [MS.LAZYTIME, false],
  nosymfollow: [MS.NOSYMFOLLOW, true], symfollow: [MS.NOSYMFOLLOW, false],
  bind: [MS.BIND, true], rbind: [MS.BIND | MS.REC, true],
};

export const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};

// Options runc and containerd pass that concern the runtime, not mount(2); they are not data.
const IGNORED_OPTIONS = new Set(['tmpcopyup', 'idmap', 'ridmap', 'copy-symlink', 'rro']);

export interface ParsedMountOptions {
  flags: number;
  propagation: number;
  data: string;
}

export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const opt of options) {
    const flag = FLAG_OPTIONS[opt];
    if (flag) {
      flags = flag[1] ? flags | flag[0] : flags & ~flag[0];
      continue;
    }
    const prop = PROPAGATION_OPTIONS[opt];
    if (prop !== undefined) {
      propagation |= prop;
      continue;
    }
    if (IGNORED_OPTIONS.has(opt)) continue;
    data.push(opt);
  }
  return { flags, propagation, data: data.join(',') };
}
