import { seccompRecords } from '../src/plan/seccomp';
import { buildPlan } from '../src/plan/build';
import { defaultSpec } from '../src/spec/default';

const facts = { hasSysResource: true, hardLimits: {}, ownOomScoreAdj: 0 };
const planOpts = { bundle: '/b', rootfs: '/b/rootfs', cgroupMounts: [], facts };

describe('seccomp records', () => {
  it('writes nothing without linux.seccomp', () => {
    expect(seccompRecords(undefined)).toEqual([]);
  });

  it('writes the default with EPERM for ERRNO, 0 for actions without an errno', () => {
    expect(seccompRecords({ defaultAction: 'SCMP_ACT_ERRNO' })).toEqual([['seccomp-default', 'SCMP_ACT_ERRNO', 1]]);
    expect(seccompRecords({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38 })).toEqual([['seccomp-default', 'SCMP_ACT_ERRNO', 38]]);
    expect(seccompRecords({ defaultAction: 'SCMP_ACT_TRACE' })).toEqual([['seccomp-default', 'SCMP_ACT_TRACE', 1]]);
    expect(seccompRecords({ defaultAction: 'SCMP_ACT_ALLOW' })).toEqual([['seccomp-default', 'SCMP_ACT_ALLOW', 0]]);
  });

  it('writes one arch and one flag record each, in order; the notify-only flag is dropped', () => {
    const r = seccompRecords({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
    });
    expect(r.slice(1)).toEqual([
      ['seccomp-arch', 'SCMP_ARCH_X86_64'], ['seccomp-arch', 'SCMP_ARCH_X86'], ['seccomp-arch', 'SCMP_ARCH_X32'],
      ['seccomp-flag', 'SECCOMP_FILTER_FLAG_LOG'], ['seccomp-flag', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
    ]);
  });

  it('writes one rule per syscall name, with its errno and no arguments', () => {
    const r = seccompRecords({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
        { names: ['reboot'], action: 'SCMP_ACT_KILL_PROCESS' },
        { names: ['chmod'], action: 'SCMP_ACT_ERRNO' },
      ],
    });
    expect(r.slice(1)).toEqual([
      ['seccomp-rule', 'SCMP_ACT_ERRNO', 38, 'mkdir', 0],
      ['seccomp-rule', 'SCMP_ACT_ERRNO', 38, 'mkdirat', 0],
      ['seccomp-rule', 'SCMP_ACT_KILL_PROCESS', 0, 'reboot', 0],
      ['seccomp-rule', 'SCMP_ACT_ERRNO', 1, 'chmod', 0],
    ]);
  });

  it('writes argument comparisons as index, op, value, valueTwo in unsigned decimal', () => {
    const r = seccompRecords({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 4294967295, op: 'SCMP_CMP_LE' }] },
        { names: ['big'], action: 'SCMP_ACT_ALLOW', args: [{ index: 5, value: 2 ** 60, op: 'SCMP_CMP_GT' }] },
      ],
    });
    expect(r.slice(1)).toEqual([
      ['seccomp-rule', 'SCMP_ACT_ALLOW', 0, 'clone', 1, 0, 'SCMP_CMP_MASKED_EQ', '2114060288', '0'],
      ['seccomp-rule', 'SCMP_ACT_ALLOW', 0, 'socket', 2, 0, 'SCMP_CMP_EQ', '1', '0', 1, 'SCMP_CMP_LE', '4294967295', '0'],
      ['seccomp-rule', 'SCMP_ACT_ALLOW', 0, 'big', 1, 5, 'SCMP_CMP_GT', '1152921504606846976', '0'],
    ]);
  });

  it('splits comparisons of the same argument into one rule each (any of them matches)', () => {
    const r = seccompRecords({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }],
    });
    expect(r.slice(1)).toEqual([
      ['seccomp-rule', 'SCMP_ACT_ALLOW', 0, 'personality', 1, 0, 'SCMP_CMP_EQ', '0', '0'],
      ['seccomp-rule', 'SCMP_ACT_ALLOW', 0, 'personality', 1, 0, 'SCMP_CMP_EQ', '8', '0'],
    ]);
  });

  it('drops a rule that repeats the default action and errno (libseccomp refuses it)', () => {
    const r = seccompRecords({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['a'], action: 'SCMP_ACT_ERRNO' },
        { names: ['b'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
        { names: ['c'], action: 'SCMP_ACT_ALLOW' },
      ],
    });
    expect(r.slice(1).map((x) => x[3])).toEqual(['b', 'c']);
  });

  it.each([
    [{}, /linux\.seccomp\.defaultAction must be a string/],
    [{ defaultAction: 'SCMP_ACT_NOPE' }, /linux\.seccomp\.defaultAction: unknown action "SCMP_ACT_NOPE"/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 5 }, /linux\.seccomp\.defaultErrnoRet: SCMP_ACT_ALLOW does not take an errno/],
    [{ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: -1 }, /linux\.seccomp\.defaultErrnoRet must be an integer/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, /linux\.seccomp\.architectures\[0\]: unknown architecture "SCMP_ARCH_Z80"/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NOPE'] }, /linux\.seccomp\.flags\[0\]: unknown flag/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }, /linux\.seccomp\.syscalls\[0\]\.names must list at least one syscall name/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' }] }, /linux\.seccomp\.syscalls\[0\]\.names must list at least one/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_BOOM' }] }, /linux\.seccomp\.syscalls\[0\]\.action: unknown action "SCMP_ACT_BOOM"/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_KILL', errnoRet: 1 }] }, /syscalls\[0\]\.errnoRet: SCMP_ACT_KILL does not take an errno/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_LIKE' }] }] }, /syscalls\[0\]\.args\[0\]\.op: unknown operator "SCMP_CMP_LIKE"/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, /syscalls\[0\]\.args\[0\]\.index must be an integer from 0 to 5/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }, /syscalls\[0\]\.args\[0\]\.value must be an unsigned 64-bit integer/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'x' }, /listenerMetadata requires linux\.seccomp\.listenerPath/],
  ])('refuses %j naming the field', (seccomp, message) => {
    expect(() => seccompRecords(seccomp)).toThrow(message);
  });

  it('refuses SCMP_ACT_NOTIFY and listenerPath as not implemented', () => {
    const notify = () => seccompRecords({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] });
    expect(notify).toThrow(/linux\.seccomp\.syscalls\[0\]\.action: SCMP_ACT_NOTIFY .* is not implemented/);
    expect(notify).toThrow(expect.objectContaining({ code: 'ERR_NOT_IMPLEMENTED' }));
    expect(() => seccompRecords({ defaultAction: 'SCMP_ACT_NOTIFY' })).toThrow(/defaultAction: SCMP_ACT_NOTIFY/);
    expect(() => seccompRecords({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock' })).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_IMPLEMENTED', message: expect.stringMatching(/linux\.seccomp\.listenerPath/) }),
    );
  });

  it('is part of the init plan', () => {
    const spec = defaultSpec();
    spec.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
    const recs = buildPlan(spec, planOpts).records.filter((r) => String(r[0]).startsWith('seccomp'));
    expect(recs).toEqual([['seccomp-default', 'SCMP_ACT_ALLOW', 0], ['seccomp-rule', 'SCMP_ACT_ERRNO', 1, 'mkdir', 0]]);
  });
});
