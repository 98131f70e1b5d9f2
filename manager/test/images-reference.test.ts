// core/images: Docker's reference rules, chain ids, containerd's GC child labels, platforms.

import { createHash } from 'node:crypto';
import {
  chainIds,
  childGcLabels,
  familiarName,
  normalizeName,
  ociRefName,
  parseReference,
  platformMatches,
  selectManifest,
  MEDIA_TYPES,
} from '../src/core/images';
import { expectKind } from './support/metadata-tmp';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const D = `sha256:${'a'.repeat(64)}`;

describe('normalizeName (Docker ParseNormalizedNamed + TagNameOnly)', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['me/app', 'docker.io/me/app:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:x', 'docker.io/library/busybox:x'],
    ['quay.io/a/b/c:v1.0-rc_1', 'quay.io/a/b/c:v1.0-rc_1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:2', 'localhost:5000/app:2'],
    ['registry.example.com:443/team/app', 'registry.example.com:443/team/app:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`],
    ['a__b-c/d.e', 'docker.io/a__b-c/d.e:latest'],
  ])('%s → %s', (input, want) => {
    expect(normalizeName(input)).toBe(want);
  });

  it.each([
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['busybox:', /bad tag/],
    ['busybox:-x', /bad tag/],
    [`busybox:${'t'.repeat(129)}`, /bad tag/],
    ['a/-b', /path component/],
    ['a//b', /path component/],
    ['busybox@sha256:xyz', /bad digest/],
    ['a'.repeat(64), /64-byte hexadecimal/],
    [`x/${'a'.repeat(260)}`, /longer than 255/],
    ['exa_mple.com/x', /bad registry/],
  ])('refuses %j', async (input, why) => {
    await expectKind(() => normalizeName(input), 'InvalidArgument', why);
  });

  it('an upper-case first component is a registry (Docker), the rest must be lower case', () => {
    expect(parseReference('Registry/app')).toEqual({ domain: 'Registry', path: 'app' });
    expect(() => parseReference('registry/App')).toThrow(/lowercase/);
  });
});

describe('familiar names', () => {
  it.each([
    ['docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/me/app:1', 'me/app:1'],
    ['docker.io/library/a/b:1', 'library/a/b:1'],
    ['quay.io/x/y:2', 'quay.io/x/y:2'],
    [`docker.io/library/busybox@${D}`, `busybox@${D}`],
    ['berth-dangling@sha256:abc', 'berth-dangling@sha256:abc'],
  ])('%s → %s', (full, short) => {
    expect(familiarName(full)).toBe(short);
  });

  it('ociRefName is the tag (what ctr and Docker put in org.opencontainers.image.ref.name)', () => {
    expect(ociRefName('docker.io/library/busybox:1.36')).toBe('1.36');
    expect(ociRefName(`docker.io/library/busybox@${D}`)).toBe(D);
  });
});

describe('chain ids (image-spec config.md)', () => {
  it('the first is the diff id; each next is sha256 of "<parent> <diff id>"', () => {
    const a = sha('a');
    const b = sha('b');
    const c = sha('c');
    const ids = chainIds([a, b, c]);
    expect(ids[0]).toBe(a);
    expect(ids[1]).toBe(sha(`${a} ${b}`));
    expect(ids[2]).toBe(sha(`${ids[1]} ${c}`));
    expect(chainIds([])).toEqual([]);
  });
});

describe('childGcLabels (containerd images.SetChildrenLabels)', () => {
  it('config, numbered layers and manifests; a counter per key', () => {
    expect(
      childGcLabels([
        { mediaType: MEDIA_TYPES.ociConfig, digest: 'c' },
        { mediaType: MEDIA_TYPES.ociLayerGzip, digest: 'l0' },
        { mediaType: MEDIA_TYPES.dockerLayer, digest: 'l1' },
      ]),
    ).toEqual({ 'containerd.io/gc.ref.content.config': 'c', 'containerd.io/gc.ref.content.l.0': 'l0', 'containerd.io/gc.ref.content.l.1': 'l1' });
    expect(
      childGcLabels([
        { mediaType: MEDIA_TYPES.ociManifest, digest: 'm0' },
        { mediaType: MEDIA_TYPES.dockerManifest, digest: 'm1' },
        { mediaType: MEDIA_TYPES.ociIndex, digest: 'i0' },
      ]),
    ).toEqual({ 'containerd.io/gc.ref.content.m.0': 'm0', 'containerd.io/gc.ref.content.m.1': 'm1', 'containerd.io/gc.ref.content.0': 'i0' });
  });
});

describe('platforms', () => {
  const host = { os: 'linux', architecture: 'arm64', variant: 'v8' };
  it('matches os and architecture; arm64 without variant is v8', () => {
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, host)).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, host)).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, host)).toBe(false);
    expect(platformMatches({ os: 'windows', architecture: 'arm64' }, host)).toBe(false);
    expect(platformMatches(undefined, host)).toBe(false);
  });
  it('selectManifest prefers the exact variant', () => {
    const m = (architecture: string, variant?: string) => ({ mediaType: MEDIA_TYPES.ociManifest, digest: `${architecture}${variant ?? ''}`, size: 1, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } });
    expect(selectManifest([m('amd64'), m('arm64'), m('arm64', 'v8')], host)?.digest).toBe('arm64v8');
    expect(selectManifest([m('amd64'), m('arm', 'v7')], host)).toBeUndefined();
    expect(selectManifest([m('arm', 'v6'), m('arm', 'v7')], { os: 'linux', architecture: 'arm', variant: 'v7' })?.digest).toBe('armv7');
  });
});
