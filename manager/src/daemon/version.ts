// berthd's version, as Version.Version and `berthd --version` report it. The release build
// (Makefile `ts`) defines BERTH_REVISION with esbuild; unbundled builds say "unknown".

declare const BERTH_REVISION: string | undefined;

export const VERSION = 'v0.1.0';
export const REVISION: string = typeof BERTH_REVISION === 'string' && BERTH_REVISION ? BERTH_REVISION : 'unknown';
