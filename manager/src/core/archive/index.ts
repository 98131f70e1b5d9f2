// Image archives: docker-archive (`docker save`), OCI image layout tars, and both in one
// (Docker ≥25). Reading streams blobs into a sink; planning decides the images; writing makes
// the combined form. No gRPC here: the CLI drives these over berthd's services.
export { readArchive, resolveFile, filesByDigest, normalizePath, blobPath, DOCKER_MANIFEST, DOCKER_REPOSITORIES, OCI_INDEX, OCI_LAYOUT } from './reader';
export type { ArchiveContents, ArchiveFile, BlobSink, SinkEntry } from './reader';
export { planImport } from './plan';
export type { BlobReader, ImportPlan, PlannedImage } from './plan';
export { parseDockerManifest, dockerImage } from './docker';
export type { DockerManifestEntry, DockerImage } from './docker';
export { ociEntries, checkLayout, parseLayoutIndex } from './oci';
export { writeArchive } from './writer';
export type { ExportImage, BlobSource } from './writer';
