// The one conformance suite for the content interfaces (Provider, Manager, IngestManager,
// Ingester). Every ContentStore implementation runs it:
//   contentConformance('local', async (root) => ({ store: new LocalContentStore(root, ...), close }))
// The factory is called again on the same root to simulate a daemon restart.

import { createHash } from 'node:crypto';
import type { ContentStore, Writer } from '../src/core/content/types';
import { readBlob } from '../src/core/content/helpers';
import { expectKind, makeTempRoot, removeTempRoot } from './support/metadata-tmp';

export interface OpenedStore {
  store: ContentStore;
  close(): Promise<void>;
}

export type ContentStoreFactory = (root: string) => Promise<OpenedStore>;

const sha = (b: Uint8Array | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function contentConformance(name: string, factory: ContentStoreFactory): void {
  describe(`content conformance: ${name}`, () => {
    let root: string;
    let opened: OpenedStore;
    let cs: ContentStore;
    const writers: Writer[] = [];

    const writer = async (ref: string, opts?: Parameters<ContentStore['writer']>[1]): Promise<Writer> => {
      const w = await cs.writer(ref, opts);
      writers.push(w);
      return w;
    };

    const put = async (data: string, labels?: Record<string, string>): Promise<string> => {
      const d = sha(data);
      const w = await writer(`put-${d}`, { expected: d, total: data.length });
      await w.write(Buffer.from(data));
      await w.commit(data.length, d, labels ? { labels } : {});
      return d;
    };

    const restart = async (): Promise<void> => {
      for (const w of writers.splice(0)) await w.close();
      await opened.close();
      opened = await factory(root);
      cs = opened.store;
    };

    beforeEach(async () => {
      root = await makeTempRoot('berth-content-');
      opened = await factory(root);
      cs = opened.store;
    });

    afterEach(async () => {
      for (const w of writers.splice(0)) await w.close();
      await opened.close();
      await removeTempRoot(root);
    });

    test('write, commit, then info, readAt and a full read return the bytes', async () => {
      const data = Buffer.from('hello, content store');
      const d = sha(data);
      const w = await writer('ref-1', { expected: d, total: data.length });
      expect(await w.write(data.subarray(0, 5))).toBe(5);
      expect((await w.status()).offset).toBe(5);
      await w.write(data.subarray(5));
      const st = await w.status();
      expect(st).toMatchObject({ ref: 'ref-1', offset: data.length, total: data.length });
      expect(w.digest()).toBe(d);
      await w.commit(data.length, d);

      const info = await cs.info(d);
      expect(info.digest).toBe(d);
      expect(info.size).toBe(data.length);
      expect(info.createdAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(info.createdAt.getTime()).toBeLessThanOrEqual(Date.now());

      const ra = await cs.readerAt({ digest: d });
      expect(ra.size).toBe(data.length);
      const buf = Buffer.alloc(7);
      expect(await ra.readAt(buf, 7)).toBe(7);
      expect(buf.toString()).toBe('content');
      expect(await ra.readAt(Buffer.alloc(10), data.length)).toBe(0);
      const tail = Buffer.alloc(10);
      expect(await ra.readAt(tail, data.length - 5)).toBe(5);
      expect(tail.subarray(0, 5).toString()).toBe('store');
      await ra.close();

      expect((await readBlob(cs, { digest: d })).equals(data)).toBe(true);
      await expectKind(cs.status('ref-1'), 'NotFound');
      expect(await cs.listStatuses()).toEqual([]);
    });

    test('commit without an expected digest stores the data under its computed digest', async () => {
      const w = await writer('no-expect');
      await w.write(Buffer.from('abc'));
      await w.commit(0);
      expect((await cs.info(sha('abc'))).size).toBe(3);
    });

    test('a writer for an already stored digest is refused with AlreadyExists', async () => {
      const d = await put('dup');
      await expectKind(cs.writer('again', { expected: d }), 'AlreadyExists', new RegExp(d));
    });

    test('committing content that is already stored fails AlreadyExists and removes the ingest', async () => {
      const d = await put('same bytes');
      const w = await writer('other-ref');
      await w.write(Buffer.from('same bytes'));
      await expectKind(w.commit(0), 'AlreadyExists', new RegExp(d));
      await expectKind(cs.status('other-ref'), 'NotFound');
      expect((await cs.info(d)).size).toBe(10);
    });

    test('a digest mismatch fails FailedPrecondition naming both digests and keeps the ingest for a retry', async () => {
      const good = Buffer.from('the right bytes');
      const d = sha(good);
      const w = await writer('mismatch', { expected: d });
      await w.write(Buffer.from('the wrong bytes'));
      const err = await expectKind(w.commit(good.length, d), 'FailedPrecondition');
      expect(err.message).toContain(d);
      expect(err.message).toContain(sha('the wrong bytes'));
      await expectKind(cs.info(d), 'NotFound');
      await expectKind(cs.info(sha('the wrong bytes')), 'NotFound');
      expect((await cs.status('mismatch')).offset).toBe(15);

      // Retry: the lock was released, the ingest resumes at its offset, offset 0 restarts it.
      const again = await writer('mismatch', { expected: d });
      expect((await again.status()).offset).toBe(15);
      await again.write(good, 0);
      expect((await again.status()).offset).toBe(good.length);
      await again.commit(good.length, d);
      expect((await readBlob(cs, { digest: d })).toString()).toBe('the right bytes');
    });

    test('a size mismatch fails FailedPrecondition and stores nothing', async () => {
      const w = await writer('short');
      await w.write(Buffer.from('1234'));
      await expectKind(w.commit(5, sha('1234')), 'FailedPrecondition', /4.*5|5.*4/);
      await expectKind(cs.info(sha('1234')), 'NotFound');
      expect((await cs.status('short')).offset).toBe(4);
    });

    test('a second writer on a locked ref is Unavailable until the first closes', async () => {
      const w = await writer('locked');
      await w.write(Buffer.from('x'));
      await expectKind(cs.writer('locked'), 'Unavailable', /locked/);
      await w.close();
      const w2 = await writer('locked');
      expect((await w2.status()).offset).toBe(1);
    });

    test('a write at an offset other than the current one is refused; offset 0 restarts the ingest', async () => {
      const w = await writer('offsets');
      await w.write(Buffer.from('aaaa'), 0);
      await w.write(Buffer.from('bb'), 4);
      await expectKind(w.write(Buffer.from('c'), 3), 'FailedPrecondition', /current offset 6/);
      await expectKind(w.write(Buffer.from('c'), 9), 'FailedPrecondition');
      expect((await w.status()).offset).toBe(6);
      await w.write(Buffer.from('zz'), 0);
      expect((await w.status()).offset).toBe(2);
      expect(w.digest()).toBe(sha('zz'));
      await expectKind(w.truncate(1), 'InvalidArgument');
      await w.commit(2, sha('zz'));
      expect((await readBlob(cs, { digest: sha('zz') })).toString()).toBe('zz');
    });

    test('a partial ingest survives a restart and resumes at its offset with the right digest', async () => {
      const data = Buffer.from('0123456789abcdefghij');
      const d = sha(data);
      const w = await writer('resume', { expected: d, total: data.length });
      await w.write(data.subarray(0, 12));
      await restart();

      const st = await cs.status('resume');
      expect(st).toMatchObject({ ref: 'resume', offset: 12, total: data.length });
      expect(st.startedAt.getTime()).toBeLessThanOrEqual(Date.now());
      expect((await cs.listStatuses()).map((s) => s.ref)).toEqual(['resume']);

      const w2 = await writer('resume', { expected: d, total: data.length });
      expect((await w2.status()).offset).toBe(12);
      await w2.write(data.subarray(12), 12);
      expect(w2.digest()).toBe(d);
      await w2.commit(data.length, d);
      expect((await readBlob(cs, { digest: d })).equals(data)).toBe(true);
    });

    test('an ingest reader sees what was written, follows later writes and survives the commit', async () => {
      const data = Buffer.from('first part|second part');
      const d = sha(data);
      await expectKind(cs.ingestReaderAt('follow'), 'NotFound');
      const w = await writer('follow', { expected: d, total: data.length });
      await w.write(data.subarray(0, 11));
      const ra = await cs.ingestReaderAt('follow');
      try {
        expect(ra.size).toBe(11);
        const buf = Buffer.alloc(64);
        expect(buf.subarray(0, await ra.readAt(buf, 0)).toString()).toBe('first part|');
        await w.write(data.subarray(11));
        expect(buf.subarray(0, await ra.readAt(buf, 11)).toString()).toBe('second part');
        await w.commit(data.length, d);
        // committed (renamed into blobs/): the open reader still reads the same bytes
        expect(buf.subarray(0, await ra.readAt(buf, 0)).toString()).toBe(data.toString());
      } finally {
        await ra.close();
      }
      await expectKind(cs.ingestReaderAt('follow'), 'NotFound');
    });

    test('resuming with a different total is refused', async () => {
      const w = await writer('totals', { total: 10 });
      await w.write(Buffer.from('abc'));
      await w.close();
      await expectKind(cs.writer('totals', { total: 11 }), 'FailedPrecondition', /11/);
      // and the refused open did not leave the ref locked
      await (await writer('totals', { total: 10 })).close();
    });

    test('abort removes the ingest; aborting again or an unknown ref is NotFound', async () => {
      const w = await writer('to-abort');
      await w.write(Buffer.from('partial'));
      await w.close();
      await cs.abort('to-abort');
      await expectKind(cs.status('to-abort'), 'NotFound');
      await expectKind(cs.abort('to-abort'), 'NotFound');
      await expectKind(cs.abort('never-was'), 'NotFound');
      const w2 = await writer('to-abort');
      expect((await w2.status()).offset).toBe(0);
    });

    test('listStatuses filters on ref', async () => {
      for (const ref of ['layer-1', 'layer-2', 'config']) {
        const w = await writer(ref);
        await w.write(Buffer.from(ref));
      }
      expect((await cs.listStatuses()).map((s) => s.ref).sort()).toEqual(['config', 'layer-1', 'layer-2']);
      expect((await cs.listStatuses('ref~=^layer-')).map((s) => s.ref).sort()).toEqual(['layer-1', 'layer-2']);
      expect((await cs.listStatuses('ref==config')).map((s) => s.ref)).toEqual(['config']);
      expect((await cs.listStatuses('ref==config', 'ref==layer-2')).map((s) => s.ref).sort()).toEqual(['config', 'layer-2']);
    });

    test('labels: set at commit, updated by field path, replaced without one', async () => {
      const d = await put('labelled', { a: '1', b: '2' });
      expect((await cs.info(d)).labels).toEqual({ a: '1', b: '2' });

      let info = await cs.update({ digest: d, labels: { b: '20', c: '3' } }, ['labels.b', 'labels.a']);
      expect(info.labels).toEqual({ b: '20' }); // labels.a absent from the input: removed
      expect((await cs.info(d)).labels).toEqual({ b: '20' });

      info = await cs.update({ digest: d, labels: { x: 'y' } });
      expect(info.labels).toEqual({ x: 'y' });
      await expectKind(cs.update({ digest: d, labels: {} }, ['size']), 'InvalidArgument', /size/);
      await expectKind(cs.update({ digest: sha('missing'), labels: {} }), 'NotFound');
      expect((await cs.info(d)).labels).toEqual({ x: 'y' });
    });

    test('walk visits every blob, or those matching the filters (OR between filters)', async () => {
      const a = await put('blob-a', { kind: 'layer', 'containerd.io/uncompressed': 'u' });
      const b = await put('blob-b', { kind: 'config' });
      const c = await put('blob-c');
      const walked = async (...filters: string[]): Promise<string[]> => {
        const out: string[] = [];
        await cs.walk((i) => void out.push(i.digest), ...filters);
        return out.sort();
      };
      expect(await walked()).toEqual([a, b, c].sort());
      expect(await walked('labels.kind==layer')).toEqual([a]);
      expect(await walked('labels."containerd.io/uncompressed"')).toEqual([a]);
      expect(await walked('labels.kind')).toEqual([a, b].sort());
      expect(await walked(`digest==${c}`)).toEqual([c]);
      expect(await walked('labels.kind==layer', 'labels.kind==config')).toEqual([a, b].sort());
      expect(await walked('labels.kind==layer,size==6')).toEqual([a]);
      expect(await walked('labels.kind==layer,size==7')).toEqual([]);
      await expectKind(walked('labels.kind=='), 'InvalidArgument');
    });

    test('delete removes a blob; reading or deleting it again is NotFound', async () => {
      const d = await put('doomed');
      await cs.delete(d);
      await expectKind(cs.info(d), 'NotFound');
      await expectKind(cs.readerAt({ digest: d }), 'NotFound');
      await expectKind(cs.delete(d), 'NotFound');
      const seen: string[] = [];
      await cs.walk((i) => void seen.push(i.digest));
      expect(seen).toEqual([]);
    });

    test('bad arguments: empty ref, malformed digests', async () => {
      await expectKind(cs.writer(''), 'InvalidArgument');
      await expectKind(cs.writer('r', { expected: 'sha256:xyz' }), 'InvalidArgument');
      await expectKind(cs.info('md5:abc'), 'InvalidArgument');
      await expectKind(cs.readerAt({ digest: 'sha256:../../etc/passwd' }), 'InvalidArgument');
    });

    test('a committed or closed writer refuses further use', async () => {
      const w = await writer('once');
      await w.write(Buffer.from('once'));
      await w.commit(4);
      await expectKind(w.write(Buffer.from('more')), 'FailedPrecondition');
      await expectKind(w.commit(4), 'FailedPrecondition');
    });
  });
}
