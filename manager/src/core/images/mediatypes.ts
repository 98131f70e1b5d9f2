// The media types of image index, manifest, config and layer blobs (OCI image-spec and
// Docker schema 2), and what kind of blob each names.

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const isIndexType = (mt: string): boolean => mt === MEDIA_TYPES.ociIndex || mt === MEDIA_TYPES.dockerManifestList;

export const isManifestType = (mt: string): boolean => mt === MEDIA_TYPES.ociManifest || mt === MEDIA_TYPES.dockerManifest;

export const isConfigType = (mt: string): boolean => mt === MEDIA_TYPES.ociConfig || mt === MEDIA_TYPES.dockerConfig;

/** Any tar layer, whatever its compression (OCI, non-distributable OCI, Docker). */
export const isLayerType = (mt: string): boolean =>
  mt.startsWith('application/vnd.oci.image.layer.') || mt.startsWith('application/vnd.docker.image.rootfs.');
