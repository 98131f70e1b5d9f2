import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { PROBE } from './env';

// A one-layer OCI image made from Debian's busybox-static and bin/berth-probe, offline, as a
// tar that is at once an OCI image layout (oci-layout, index.json, blobs/sha256/...) and a
// docker-archive (manifest.json naming the same blobs): `ctr images import` reads the
// former, `podman load` either. The layer is an uncompressed tar made by the system `tar`
// with fixed owners, order and times, so the digests are the same on every build.

export const IMAGE_REF = 'docker.io/berth-e2e/busybox:latest';
export const BUSYBOX = '/bin/busybox';
export const IMAGE_APPLETS = [
  'sh', 'echo', 'cat', 'sleep', 'ls', 'id', 'hostname', 'true', 'false', 'touch', 'mkdir', 'ps', 'kill', 'env',
  'pwd', 'grep', 'wc', 'head', 'readlink', 'stat', 'tty', 'stty', 'test', 'sed', 'tr', 'top', 'uname', 'dd', 'seq',
  // Docker's getting-started flow serves a page and fetches it (e2e/test/berth-tutorial.test.ts).
  'httpd', 'wget',
];
export const IMAGE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

export interface Image {
  /** The archive for `ctr images import` / `podman load`. */
  tar: string;
  ref: string;
  /** sha256:... of the image config: the image id podman shows. */
  configDigest: string;
  manifestDigest: string;
  cleanup(): void;
}

function sha256(data: Buffer): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

function tar(args: string[]): void {
  const r = spawnSync('tar', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar ${args.join(' ')}: ${r.stderr}`);
}

const DETERMINISTIC = ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '--format=gnu'];

export function buildImage(): Image {
  const dir = mkdtempSync(join(tmpdir(), 'berth-image-'));
  try {
    // The root filesystem.
    const rootfs = join(dir, 'rootfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root', 'run']) mkdirSync(join(rootfs, d), { recursive: true });
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of IMAGE_APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
    copyFileSync(PROBE, join(rootfs, 'bin', 'probe'));
    chmodSync(join(rootfs, 'bin', 'probe'), 0o755);
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n');

    const layerPath = join(dir, 'layer.tar');
    tar(['-cf', layerPath, ...DETERMINISTIC, '-C', rootfs, '.']);
    const layer = readFileSync(layerPath);
    const layerDigest = sha256(layer);

    const config = Buffer.from(JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture: goArch(),
      os: 'linux',
      config: { Env: IMAGE_ENV, Cmd: ['sh'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'berth e2e: busybox-static + berth-probe' }],
    }));
    const configDigest = sha256(config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }));
    const manifestDigest = sha256(manifest);

    const out = join(dir, 'out');
    const blobs = join(out, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const blob = (digest: string) => join(blobs, digest.slice('sha256:'.length));
    copyFileSync(layerPath, blob(layerDigest));
    writeFileSync(blob(configDigest), config);
    writeFileSync(blob(manifestDigest), manifest);
    writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(out, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifestDigest,
        size: manifest.length,
        annotations: { 'io.containerd.image.name': IMAGE_REF, 'org.opencontainers.image.ref.name': 'latest' },
      }],
    }));
    // docker-archive: the same blobs by path.
    writeFileSync(join(out, 'manifest.json'), JSON.stringify([{
      Config: `blobs/sha256/${configDigest.slice(7)}`,
      RepoTags: [IMAGE_REF.replace(/^docker\.io\//, '')],
      Layers: [`blobs/sha256/${layerDigest.slice(7)}`],
    }]));
    const archive = join(dir, 'image.tar');
    tar(['-cf', archive, ...DETERMINISTIC, '-C', out, 'oci-layout', 'index.json', 'manifest.json', 'blobs']);
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    rmSync(layerPath, { force: true });
    return { tar: archive, ref: IMAGE_REF, configDigest, manifestDigest, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function goArch(): string {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const a = arch[process.arch];
  if (!a) throw new Error(`no OCI architecture name for ${process.arch}`);
  return a;
}
