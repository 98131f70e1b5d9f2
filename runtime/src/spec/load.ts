import { join, resolve, isAbsolute } from 'path';
import type { Spec } from './types';
import { validateSpec } from './validate';
import { invalidConfig, notFound, errnoCode } from '../util/errors';
import type { Host } from '../host/host';

export interface Bundle {
  /** Absolute bundle directory. */
  dir: string;
  spec: Spec;
  /** Absolute rootfs path (root.path resolved against the bundle). */
  rootfs: string;
}

/** Reads and validates `<bundle>/config.json`; checks the rootfs exists. */
export async function loadBundle(host: Host, bundleDir: string): Promise<Bundle> {
  const dir = resolve(bundleDir);
  const configPath = join(dir, 'config.json');
  let text: string;
  try {
    text = await host.readFile(configPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw notFound(`bundle ${dir}: config.json not found`);
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidConfig(`${configPath}: invalid JSON: ${(err as Error).message}`);
  }
  const spec = validateSpec(raw);
  const rootPath = spec.root!.path;
  const rootfs = isAbsolute(rootPath) ? rootPath : join(dir, rootPath);
  if (!(await host.isDirectory(rootfs))) {
    throw invalidConfig(`root.path: rootfs ${rootfs} ${(await host.exists(rootfs)) ? 'is not a directory' : 'does not exist'}`);
  }
  return { dir, spec, rootfs };
}
