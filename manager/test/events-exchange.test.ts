// The event exchange: validation as containerd's, filters on topic/namespace/event fields,
// subscriptions that end.

import { packAny, unpackAny } from '../src/api';
import { Exchange, validateTopic, type Envelope } from '../src/core/events';
import { expectKind } from './support/metadata-tmp';

const ev = (name: string) => packAny('containerd.events.NamespaceCreate', { name, labels: {} });

describe('Exchange', () => {
  it('delivers to subscribers whose filters match, in order, with a timestamp', async () => {
    const x = new Exchange((a) => unpackAny(a).message);
    const all: Envelope[] = [];
    const byTopic: string[] = [];
    const byNsOrTopic: string[] = [];
    const byField: string[] = [];
    x.subscribe([], (e) => all.push(e));
    x.subscribe(['topic=="/namespaces/create"'], (e) => byTopic.push(e.namespace));
    x.subscribe(['namespace==b', 'topic~="^/tasks/"'], (e) => byNsOrTopic.push(`${e.namespace}${e.topic}`));
    x.subscribe(['event.name==two'], (e) => byField.push(e.topic));
    const before = Date.now();
    await x.publish('a', '/namespaces/create', ev('one'));
    await x.publish('b', '/namespaces/update', ev('two'));
    await x.publish('a', '/tasks/exit', ev('three'));
    expect(all.map((e) => e.topic)).toEqual(['/namespaces/create', '/namespaces/update', '/tasks/exit']);
    expect(all[0]!.timestamp.getTime()).toBeGreaterThanOrEqual(before);
    expect(unpackAny(all[0]!.event).message).toEqual({ name: 'one', labels: {} });
    expect(byTopic).toEqual(['a']);
    expect(byNsOrTopic).toEqual(['b/namespaces/update', 'a/tasks/exit']);
    expect(byField).toEqual(['/namespaces/update']);
  });

  it('requires a namespace (FailedPrecondition) and a valid topic and event (InvalidArgument)', async () => {
    const x = new Exchange();
    await expectKind(x.publish('', '/a', ev('x')), 'FailedPrecondition', /namespace is required/);
    await expectKind(x.publish('bad ns', '/a', ev('x')), 'InvalidArgument');
    await expectKind(x.publish('a', 'a', ev('x')), 'InvalidArgument', /must start with '\/'/);
    await expectKind(x.publish('a', '/a', undefined as never), 'InvalidArgument', /event .* must be set/);
    expect(() => validateTopic('/')).toThrow(/at least one component/);
    expect(() => validateTopic('/a//b')).toThrow(/must not be empty/);
    expect(() => validateTopic('/tasks/oom')).not.toThrow();
  });

  it('forwards envelopes unchanged, checking timestamp and namespace', async () => {
    const x = new Exchange();
    const got: Envelope[] = [];
    x.subscribe([], (e) => got.push(e));
    const env = { timestamp: new Date(1000), namespace: 'n', topic: '/a/b', event: ev('x') };
    await x.forward(env);
    expect(got).toEqual([env]);
    await expectKind(x.forward({ ...env, timestamp: new Date(NaN) }), 'InvalidArgument', /timestamp must be set/);
    await expectKind(x.forward({ ...env, namespace: '' }), 'InvalidArgument', /invalid namespace/);
  });

  it('rejects bad filters at subscribe time', () => {
    expect(() => new Exchange().subscribe(['topic=='], () => undefined)).toThrow(/filter/);
  });

  it('ends subscriptions on close() (each once), drops throwing subscribers, keeps publishing', async () => {
    const x = new Exchange();
    const closed: string[] = [];
    const sub = x.subscribe([], () => undefined, () => closed.push('a'));
    x.subscribe([], () => undefined, () => closed.push('b'));
    let calls = 0;
    x.subscribe([], () => {
      calls++;
      throw new Error('buggy');
    }, () => closed.push('thrower'));
    await x.publish('n', '/t', ev('x'));
    await x.publish('n', '/t', ev('x'));
    expect(calls).toBe(1);
    expect(closed).toEqual(['thrower']);
    sub.close();
    sub.close();
    expect(closed).toEqual(['thrower', 'a']);
    x.close();
    expect(closed).toEqual(['thrower', 'a', 'b']);
    expect(x.subscriberCount).toBe(0);
    x.subscribe([], () => undefined, () => closed.push('late'));
    expect(closed).toContain('late');
    await x.publish('n', '/t', ev('x'));
  });
});
