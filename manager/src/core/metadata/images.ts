// Images: a name in a namespace pointing at a target descriptor (an index or manifest).

import { alreadyExists, invalidArgument, notFound } from '../errors';
import { MetadataDB, applyMapPath, copyLabels } from './db';
import { Adaptor, labelField, parseFilters } from './filters';
import { validateDigest, validateKeyPart, validateLabels, validateNamespace } from './identifiers';
import { ensureNamespace } from './namespaces';
import { Descriptor, ImageRecord, keys } from './schema';

export interface Image {
  name: string;
  target: Descriptor;
  labels: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

export type ImageInput = Pick<Image, 'name' | 'target'> & Partial<Pick<Image, 'labels' | 'createdAt' | 'updatedAt'>>;

function validateImage(img: ImageInput): void {
  if (!img.name) throw invalidArgument('image name must not be empty');
  validateKeyPart(img.name, 'image name');
  validateLabels(img.labels, `image ${JSON.stringify(img.name)}`);
  if (!img.target) throw invalidArgument(`image ${JSON.stringify(img.name)}: target must be set`);
  if (!img.target.mediaType) throw invalidArgument(`image ${JSON.stringify(img.name)}: target.mediaType must not be empty`);
  validateDigest(img.target.digest);
  if (!Number.isSafeInteger(img.target.size) || img.target.size < 0) {
    throw invalidArgument(`image ${JSON.stringify(img.name)}: target.size ${img.target.size} is not a size`);
  }
}

const copyTarget = (t: Descriptor): Descriptor => ({
  mediaType: t.mediaType,
  digest: t.digest,
  size: t.size,
  ...(t.annotations && Object.keys(t.annotations).length ? { annotations: { ...t.annotations } } : {}),
});

const toImage = (name: string, r: ImageRecord): Image => ({
  name,
  target: copyTarget(r.target),
  labels: copyLabels(r.labels),
  createdAt: new Date(r.createdAt),
  updatedAt: new Date(r.updatedAt),
});

/** Filter fields: name, target.digest, target.mediatype, target.size, labels.<key>. */
export function imageAdaptor(img: Image): Adaptor {
  return (fp) => {
    switch (fp[0]?.toLowerCase()) {
      case 'name':
        return fp.length === 1 ? img.name : undefined;
      case 'target':
        switch (fp[1]?.toLowerCase()) {
          case 'digest':
            return img.target.digest;
          case 'mediatype':
            return img.target.mediaType;
          case 'size':
            return String(img.target.size);
          case 'annotations':
            return labelField(img.target.annotations, fp.slice(2));
        }
        return undefined;
      case 'labels':
        return labelField(img.labels, fp.slice(1));
    }
    return undefined;
  };
}

export class ImageStore {
  constructor(private readonly db: MetadataDB) {}

  get(ns: string, name: string): Image {
    validateNamespace(ns);
    return this.db.view((txn) => {
      const rec = txn.get<ImageRecord>(keys.image(ns, name));
      if (!rec) throw notFound(`image ${JSON.stringify(name)}`);
      return toImage(name, rec);
    });
  }

  list(ns: string, ...filters: string[]): Image[] {
    validateNamespace(ns);
    const filter = parseFilters(...filters);
    return this.db.view((txn) =>
      txn
        .range<ImageRecord>(keys.images(ns), 1)
        .map(({ key, value }) => toImage(key[key.length - 1] as string, value))
        .filter((img) => filter.match(imageAdaptor(img))),
    );
  }

  async create(ns: string, input: ImageInput): Promise<Image> {
    validateNamespace(ns);
    validateImage(input);
    return this.db.update((txn) => {
      ensureNamespace(txn, ns);
      if (txn.has(keys.image(ns, input.name))) throw alreadyExists(`image ${JSON.stringify(input.name)}`);
      const createdAt = input.createdAt?.getTime() ?? Date.now();
      const rec: ImageRecord = { target: copyTarget(input.target), labels: copyLabels(input.labels), createdAt, updatedAt: input.updatedAt?.getTime() ?? createdAt };
      txn.put(keys.image(ns, input.name), rec);
      return toImage(input.name, rec);
    });
  }

  /**
   * Field paths: "labels", "labels.<k>", "target", "annotations", "annotations.<k>" (the
   * target's). No paths replaces labels and target.
   */
  async update(ns: string, image: ImageInput, fieldpaths: string[] = []): Promise<Image> {
    validateNamespace(ns);
    if (!image.name) throw invalidArgument('image name must not be empty');
    return this.db.update((txn) => {
      const rec = txn.get<ImageRecord>(keys.image(ns, image.name));
      if (!rec) throw notFound(`image ${JSON.stringify(image.name)}`);
      let labels = copyLabels(rec.labels);
      let target = copyTarget(rec.target);
      for (const p of fieldpaths.length ? fieldpaths : ['labels', 'target']) {
        const l = applyMapPath(p, 'labels', labels, image.labels);
        if (l) {
          labels = l;
          continue;
        }
        const a = applyMapPath(p, 'annotations', target.annotations ?? {}, image.target?.annotations);
        if (a) {
          target = copyTarget({ ...target, annotations: a });
          continue;
        }
        if (p === 'target') {
          if (!image.target) throw invalidArgument(`image ${JSON.stringify(image.name)}: target must be set`);
          target = copyTarget(image.target);
          continue;
        }
        throw invalidArgument(`cannot update ${JSON.stringify(p)} field on image ${JSON.stringify(image.name)}`);
      }
      const next: ImageRecord = { target, labels, createdAt: rec.createdAt, updatedAt: image.updatedAt?.getTime() ?? Date.now() };
      const updated = toImage(image.name, next);
      validateImage(updated);
      txn.put(keys.image(ns, image.name), next);
      return updated;
    });
  }

  async delete(ns: string, name: string): Promise<void> {
    validateNamespace(ns);
    await this.db.update((txn) => {
      if (!txn.remove(keys.image(ns, name))) throw notFound(`image ${JSON.stringify(name)}`);
      txn.markDirty();
    });
  }
}
