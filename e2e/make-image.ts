// `make image`: the busybox-static image the demo runs, as build/images/busybox.tar — an OCI
// image layout that is also a docker-archive, made offline from Debian's busybox-static.
import { copyFileSync, mkdirSync } from 'fs';
import { join, resolve } from 'path';
import { buildImage } from './test/support/image';

const out = resolve(process.argv[2] ?? join(__dirname, '..', 'build', 'images', 'busybox.tar'));
const image = buildImage();
try {
  mkdirSync(join(out, '..'), { recursive: true });
  copyFileSync(image.tar, out);
  process.stdout.write(`${out} ${image.ref}\n`);
} finally {
  image.cleanup();
}
