import { createHash } from 'node:crypto';
import { access, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { readBlob, writeBlob } from '../src/core/content/helpers';
import { Metadata, openMetadata } from '../src/core/metadata';
import { contentConformance } from './content-conformance';
import { expectKind, makeTempRoot, removeTempRoot } from './support/metadata-tmp';

contentConformance('namespaced view', async (root) => {
  const md = await openMetadata({ root });
  return { store: md.content.namespace('conformance'), close: () => md.close() };
});

const sha = (b: string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const exists = (p: string) => access(p).then(() => true, () => false);

describe('namespaced content view', () => {
  let root: string;
  let md: Metadata;
  beforeEach(async () => {
    root = await makeTempRoot('berth-nscontent-');
    md = await openMetadata({ root });
  });
  afterEach(async () => {
    await md.close();
    await removeTempRoot(root);
  });

  const blobFile = (d: string) => path.join(root, 'content', 'blobs', 'sha256', d.slice(7));

  test('a blob committed in one namespace is invisible in another', async () => {
    const a = md.content.namespace('a');
    const b = md.content.namespace('b');
    await writeBlob(a, 'r', Buffer.from('only in a'), { digest: sha('only in a'), size: 9 });
    expect((await a.info(sha('only in a'))).size).toBe(9);
    await expectKind(b.info(sha('only in a')), 'NotFound');
    await expectKind(b.readerAt({ digest: sha('only in a') }), 'NotFound');
    await expectKind(b.update({ digest: sha('only in a'), labels: { x: 'y' } }), 'NotFound');
    await expectKind(b.delete(sha('only in a')), 'NotFound');
    const seen: string[] = [];
    await b.walk((i) => void seen.push(i.digest));
    expect(seen).toEqual([]);
  });

  test('another namespace gets a shared blob without sending its bytes, with its own labels', async () => {
    const a = md.content.namespace('a');
    const b = md.content.namespace('b');
    const d = sha('shared bytes');
    await writeBlob(a, 'r', Buffer.from('shared bytes'), { digest: d, size: 12 }, { labels: { owner: 'a' } });

    const w = await b.writer('r', { expected: d, total: 12 });
    expect((await w.status()).offset).toBe(12); // nothing left to send
    await w.commit(12, d, { labels: { owner: 'b' } });
    expect((await b.info(d)).labels).toEqual({ owner: 'b' });
    expect((await a.info(d)).labels).toEqual({ owner: 'a' });
    expect((await readBlob(b, { digest: d })).toString()).toBe('shared bytes');
    await expectKind(b.writer('again', { expected: d }), 'AlreadyExists');
  });

  test('a client that writes to a shared writer at offset 0 rewrites the ingest and still commits', async () => {
    const a = md.content.namespace('a');
    const b = md.content.namespace('b');
    const d = sha('xyz');
    await writeBlob(a, 'r', Buffer.from('xyz'), { digest: d, size: 3 });
    const w = await b.writer('r2', { expected: d });
    await w.write(Buffer.from('xyz'), 0);
    expect((await w.status()).offset).toBe(3);
    await w.commit(3, d);
    expect((await b.info(d)).size).toBe(3);
  });

  test('delete drops the namespace record; the file goes when no namespace records it', async () => {
    const a = md.content.namespace('a');
    const b = md.content.namespace('b');
    const d = sha('two owners');
    await writeBlob(a, 'r', Buffer.from('two owners'), { digest: d, size: 10 });
    await writeBlob(b, 'r', Buffer.from('two owners'), { digest: d, size: 10 });
    await a.delete(d);
    await expectKind(a.info(d), 'NotFound');
    expect((await readBlob(b, { digest: d })).toString()).toBe('two owners');
    expect(await exists(blobFile(d))).toBe(true);
    await b.delete(d);
    expect(await exists(blobFile(d))).toBe(false);
  });

  test('the same ref in two namespaces is two ingests, not a lock conflict', async () => {
    const a = md.content.namespace('a');
    const b = md.content.namespace('b');
    const wa = await a.writer('layer');
    const wb = await b.writer('layer');
    await wa.write(Buffer.from('aaa'));
    await wb.write(Buffer.from('b'));
    expect((await a.status('layer')).offset).toBe(3);
    expect((await b.status('layer')).offset).toBe(1);
    expect((await a.listStatuses()).map((s) => s.ref)).toEqual(['layer']);
    await wa.close();
    await wb.close();
    await a.abort('layer');
    await expectKind(a.status('layer'), 'NotFound');
    expect((await b.status('layer')).offset).toBe(1);
    expect((await readdir(path.join(root, 'content', 'ingest'))).length).toBe(1);
  });

  test('a writer opened with a lease puts the committed blob in the lease, in the same transaction', async () => {
    await md.leases.create('ns', 'pull-1');
    const cs = md.content.namespace('ns');
    const d = sha('leased');
    const w = await cs.writer('ref', { expected: d, lease: 'pull-1' });
    expect(md.leases.listResources('ns', 'pull-1')).toEqual([{ type: 'ingests', id: 'ref' }]);
    await w.write(Buffer.from('leased'));
    await w.commit(6, d);
    expect(md.leases.listResources('ns', 'pull-1')).toEqual([{ type: 'content', id: d }]);
    await expectKind(cs.writer('ref2', { lease: 'no-such-lease' }), 'NotFound');
    await expectKind(cs.status('ref2'), 'NotFound');
  });

  test('a namespace holding content cannot be deleted', async () => {
    const cs = md.content.namespace('busy');
    await writeBlob(cs, 'r', Buffer.from('z'), { digest: sha('z'), size: 1 });
    await expectKind(md.namespaces.delete('busy'), 'FailedPrecondition', /content/);
    await cs.delete(sha('z'));
    await md.namespaces.delete('busy');
    expect(md.namespaces.list()).not.toContain('busy');
  });

  test('namespace names are validated', () => {
    expect(() => md.content.namespace('bad/ns')).toThrow(/namespace/);
    expect(() => md.content.namespace('')).toThrow(/namespace/);
  });
});
