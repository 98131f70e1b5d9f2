import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { REPO } from './env';
import { buildImage } from './image';

// Image fixtures for the registry tests (issue 6), as OCI image layouts that skopeo copies to a
// registry (`skopeo copy [--all] oci:DIR:TAG docker://…`):
//
//   debianImage()        the 3-layer Debian minbase image (~70 MB gzip), built once per machine
//                        by e2e/fixtures/debian-image.js (`make fixtures`) into a cache dir
//   multiPlatformImage() an index of two manifests: linux/amd64 = the busybox test image of
//                        image.ts, linux/arm64 = a different one-layer image (a file naming its
//                        platform), so a pull that picks the wrong platform is seen at once

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface LayoutImage {
  /** The OCI image layout directory. */
  dir: string;
  /** The tag inside the layout (org.opencontainers.image.ref.name). */
  tag: string;
  /** skopeo's source reference: "oci:DIR:TAG". */
  ociRef: string;
  /** The digest of what the tag points at: a manifest, or the index for multiPlatformImage. */
  digest: string;
}

export interface DebianImage extends LayoutImage {
  manifest: { config: Descriptor; layers: Descriptor[] };
  /** Bytes of the three gzip layers together. */
  compressedSize: number;
}

export const DEBIAN_IMAGE_SCRIPT = join(REPO, 'e2e', 'fixtures', 'debian-image.js');

/**
 * The Debian fixture's layout, built first if it is not there (a minute or two, needs network
 * to deb.debian.org; `make fixtures` does it ahead). Shared and read-only: never write into it.
 */
export function debianImage(): DebianImage {
  const r = spawnSync(process.execPath, [DEBIAN_IMAGE_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${DEBIAN_IMAGE_SCRIPT} failed (${r.status}): ${r.stderr}`);
  const dir = r.stdout.trim();
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: (Descriptor & { annotations?: Record<string, string> })[] };
  const top = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'bookworm');
  if (!top) throw new Error(`${dir}/index.json: no manifest tagged bookworm`);
  const manifest = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', top.digest.slice(7)), 'utf8')) as DebianImage['manifest'];
  return {
    dir,
    tag: 'bookworm',
    ociRef: `oci:${dir}:bookworm`,
    digest: top.digest,
    manifest,
    compressedSize: manifest.layers.reduce((n, l) => n + l.size, 0),
  };
}

export interface MultiPlatformImage extends LayoutImage {
  /** Per platform ("linux/amd64", "linux/arm64"): its manifest's and config's digests. */
  platforms: Record<string, { manifest: string; config: string }>;
  /** What /etc/platform holds in the arm64 image ("linux/arm64\n"); the amd64 one has none. */
  arm64Marker: string;
  cleanup(): void;
}

const DETERMINISTIC = ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '--format=gnu'];

function tar(args: string[]): void {
  const r = spawnSync('tar', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar ${args.join(' ')}: ${r.stderr}`);
}

/**
 * An OCI layout in a temp dir whose tag `multi` is an index of two platforms. Push it with
 * `skopeo copy --all <ociRef> docker://HOST/REPO:TAG` (--dest-tls-verify=false for plain HTTP).
 */
export function multiPlatformImage(): MultiPlatformImage {
  const dir = mkdtempSync(join(tmpdir(), 'multi-image-'));
  const busybox = buildImage();
  try {
    const layout = join(dir, 'layout');
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    // linux/amd64: the busybox image's blobs, taken from its tar (an OCI layout inside)
    tar(['-xf', busybox.tar, '-C', layout, 'oci-layout', 'blobs']);
    const amd64Manifest = readFileSync(join(blobs, busybox.manifestDigest.slice(7)));

    // linux/arm64: one small layer of its own, so its digests differ from amd64's in every blob
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    const arm64Marker = 'linux/arm64\n';
    writeFileSync(join(rootfs, 'etc', 'platform'), arm64Marker);
    const layerFile = join(dir, 'arm64.tar');
    tar(['-cf', layerFile, ...DETERMINISTIC, '-C', rootfs, '.']);
    const layer = readFileSync(layerFile);
    const put = (bytes: Buffer): string => {
      const digest = sha256(bytes);
      writeFileSync(join(blobs, digest.slice(7)), bytes);
      return digest;
    };
    const layerDigest = put(layer);
    const config = Buffer.from(
      JSON.stringify({
        created: '1970-01-01T00:00:00Z',
        architecture: 'arm64',
        os: 'linux',
        config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [layerDigest] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'berth e2e: /etc/platform' }],
      }),
    );
    const configDigest = put(config);
    const arm64Manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
      }),
    );
    const arm64ManifestDigest = put(arm64Manifest);

    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: busybox.manifestDigest, size: amd64Manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm64ManifestDigest, size: arm64Manifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    const indexDigest = put(index);
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }],
      }),
    );
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(layerFile, { force: true });
    return {
      dir: layout,
      tag: 'multi',
      ociRef: `oci:${layout}:multi`,
      digest: indexDigest,
      platforms: {
        'linux/amd64': { manifest: busybox.manifestDigest, config: busybox.configDigest },
        'linux/arm64': { manifest: arm64ManifestDigest, config: configDigest },
      },
      arm64Marker,
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    busybox.cleanup();
  }
}
