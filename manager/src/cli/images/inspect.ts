// Docker's image inspect document (types.ImageInspect) for one image, from its records,
// config and disk use. Used by `berth image inspect` and by `berth inspect` for images.

import type { Daemon } from '../daemon';
import { CliError } from '../errors';
import { diskUsage, inventory, type ImageInfo } from './inventory';
import { findImages } from './resolve';
import { DEFAULT_SNAPSHOTTER } from './unpack';
import { familiarName, parseReference, familiarRepository } from '../../core/images';

/** Docker's container config keys, in its order, with its empty values. */
const CONFIG_DEFAULTS: Record<string, unknown> = {
  Hostname: '',
  Domainname: '',
  User: '',
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: null,
  Image: '',
  Volumes: null,
  WorkingDir: '',
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function inspectDocument(img: ImageInfo): Record<string, unknown> {
  const cfg = img.resolved.imageConfig as unknown as Record<string, unknown>;
  const config = (cfg.config ?? {}) as Record<string, unknown>;
  const repoDigests = [
    ...new Set(
      img.names.map((n) => {
        try {
          return `${familiarRepository(parseReference(n))}@${img.target.digest}`;
        } catch {
          return `${n}@${img.target.digest}`;
        }
      }),
    ),
  ];
  return {
    Id: img.id,
    RepoTags: img.names.map(familiarName),
    RepoDigests: repoDigests,
    Parent: '',
    Comment: typeof cfg.comment === 'string' ? cfg.comment : '',
    Created: typeof cfg.created === 'string' ? cfg.created : ZERO_TIME,
    DockerVersion: typeof cfg.docker_version === 'string' ? cfg.docker_version : '',
    Author: typeof cfg.author === 'string' ? cfg.author : '',
    Config: { ...CONFIG_DEFAULTS, ...config },
    Architecture: img.resolved.imageConfig.architecture,
    ...(img.resolved.imageConfig.variant ? { Variant: img.resolved.imageConfig.variant } : {}),
    Os: img.resolved.imageConfig.os,
    Size: img.size,
    GraphDriver: { Data: null, Name: DEFAULT_SNAPSHOTTER },
    RootFS: { Type: img.resolved.imageConfig.rootfs.type || 'layers', Layers: img.resolved.imageConfig.rootfs.diff_ids },
    Metadata: { LastTagTime: ZERO_TIME },
  };
}

/** The inspect document of the image `ref` names (a name or an id); CliError when there is none. */
export async function inspectImage(d: Daemon, ref: string, usage?: Map<string, number>): Promise<Record<string, unknown>> {
  const [found] = await findImages(d, ref);
  const images = await inventory(d, { usage: usage ?? (await diskUsage(d)).snapshots });
  const img = images.find((i) => i.target.digest === found!.target.digest);
  if (!img) throw new CliError(`no such image: ${ref}`);
  return inspectDocument(img);
}
