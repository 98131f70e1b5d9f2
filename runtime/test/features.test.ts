import { features } from '../src/lib/features';
import featuresCommand from '../src/cli/features';
import { parseMountOptions } from '../src/plan/mount-options';
import { seccompRecords } from '../src/plan/seccomp';
import { NAMESPACE_TYPES } from '../src/spec/validate';
import { capabilityNumber } from '../src/plan/capabilities';
import { runtimeContext } from '../src/lib/context';

describe('features', () => {
  const f = features();

  it('has the spec versions and all six hooks', () => {
    expect(f.ociVersionMin).toBe('1.0.0');
    expect(f.ociVersionMax).toMatch(/^1\.\d+\.\d+$/);
    expect(f.hooks).toEqual(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
  });

  it('lists only mount options the plan turns into mount(2) flags, not ones it passes on or skips', () => {
    expect(f.mountOptions.length).toBeGreaterThan(30);
    for (const o of f.mountOptions) expect({ o, data: parseMountOptions([o]).data }).toEqual({ o, data: '' });
    for (const o of ['rro', 'tmpcopyup', 'idmap', 'defaults', 'mode=755']) expect(f.mountOptions).not.toContain(o);
    expect(f.mountOptions).toEqual([...f.mountOptions].sort());
  });

  it('lists the namespaces and capabilities berth knows', () => {
    expect([...f.linux.namespaces].sort()).toEqual([...NAMESPACE_TYPES].sort());
    expect(f.linux.namespaces).toContain('time');
    for (const c of f.linux.capabilities) expect(capabilityNumber(c)).toBeDefined();
    expect(f.linux.capabilities).toContain('CAP_CHECKPOINT_RESTORE');
  });

  it('claims only seccomp actions, operators, architectures and flags the plan accepts', () => {
    const s = f.linux.seccomp;
    expect(s.enabled).toBe(true);
    for (const a of s.actions) expect(() => seccompRecords({ defaultAction: a })).not.toThrow();
    expect(s.actions).not.toContain('SCMP_ACT_NOTIFY');
    expect(() => seccompRecords({ defaultAction: 'SCMP_ACT_NOTIFY' })).toThrow();
    for (const op of s.operators) {
      expect(() => seccompRecords({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_LOG', args: [{ index: 0, op, value: 1 }] }] })).not.toThrow();
    }
    expect(() => seccompRecords({ defaultAction: 'SCMP_ACT_ALLOW', architectures: s.archs, flags: s.knownFlags })).not.toThrow();
    expect(s.archs).toEqual(expect.arrayContaining(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']));
  });

  it('says what berth does not do: no systemd cgroup driver, AppArmor, SELinux or Intel RDT', () => {
    expect(f.linux.cgroup).toEqual({ v1: true, v2: true, systemd: false, systemdUser: false, rdma: false });
    expect(f.linux.apparmor.enabled).toBe(false);
    expect(f.linux.selinux.enabled).toBe(false);
    expect(f.linux.intelRdt.enabled).toBe(false);
  });

  it('the command prints it as JSON indented like runc, and takes no arguments', async () => {
    let out = '';
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    try {
      const ctx = runtimeContext('/nonexistent');
      expect(await featuresCommand.run(ctx, {}, [])).toBe(0);
      await expect(featuresCommand.run(ctx, {}, ['x'])).rejects.toThrow('"features" takes no arguments, got 1');
    } finally {
      spy.mockRestore();
    }
    expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(f)));
    expect(out).toMatch(/^\{\n {4}"ociVersionMin": "1\.0\.0",\n/);
  });
});
