import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { LocalContentStore, MemoryLabelStore } from '../src/core/content/local';
import { contentConformance } from './content-conformance';
import { expectKind, makeTempRoot, removeTempRoot } from './support/metadata-tmp';

// Labels are kept by the namespaced view in production; here an in-memory LabelStore that
// outlives a "restart" of the store on the same root.
const labelStores = new Map<string, MemoryLabelStore>();
contentConformance('local', async (root) => {
  if (!labelStores.has(root)) labelStores.set(root, new MemoryLabelStore());
  return { store: new LocalContentStore(root, { labels: labelStores.get(root) as MemoryLabelStore }), close: async () => {} };
});

const sha = (b: string): string => createHash('sha256').update(b).digest('hex');

describe('local content store layout', () => {
  let root: string;
  beforeEach(async () => {
    root = await makeTempRoot('berth-content-');
  });
  afterEach(async () => removeTempRoot(root));

  test('an ingest is a directory named by the hash of its ref, a blob is blobs/sha256/<hex>, read-only', async () => {
    const cs = new LocalContentStore(root);
    const w = await cs.writer('my-ref', { expected: `sha256:${sha('data')}`, total: 4 });
    await w.write(Buffer.from('da'));
    await w.close();
    const dir = path.join(root, 'content', 'ingest', sha('my-ref'));
    expect((await readdir(dir)).sort()).toEqual(['data', 'expected', 'ref', 'startedat', 'total', 'updatedat']);
    expect(await readFile(path.join(dir, 'ref'), 'utf8')).toBe('my-ref');
    expect(await readFile(path.join(dir, 'total'), 'utf8')).toBe('4');
    expect(await readFile(path.join(dir, 'expected'), 'utf8')).toBe(`sha256:${sha('data')}`);
    expect(new Date(await readFile(path.join(dir, 'startedat'), 'utf8')).getTime()).not.toBeNaN();

    const w2 = await cs.writer('my-ref');
    await w2.write(Buffer.from('ta'));
    await w2.commit(4);
    const blob = path.join(root, 'content', 'blobs', 'sha256', sha('data'));
    expect(await readFile(blob, 'utf8')).toBe('data');
    expect((await stat(blob)).mode & 0o222).toBe(0);
    expect(await readdir(path.join(root, 'content', 'ingest'))).toEqual([]);
  });

  test('without a label store, labels cannot be updated (FailedPrecondition)', async () => {
    const cs = new LocalContentStore(root);
    const w = await cs.writer('r');
    await w.write(Buffer.from('x'));
    await w.commit(1);
    await expectKind(cs.update({ digest: `sha256:${sha('x')}`, labels: { a: 'b' } }), 'FailedPrecondition');
    expect((await cs.info(`sha256:${sha('x')}`)).labels).toEqual({});
  });

  test('two store instances on one root share the ref locks', async () => {
    const a = new LocalContentStore(root);
    const b = new LocalContentStore(root);
    const w = await a.writer('shared-ref');
    await expectKind(b.writer('shared-ref'), 'Unavailable');
    await w.close();
    await (await b.writer('shared-ref')).close();
  });
});
