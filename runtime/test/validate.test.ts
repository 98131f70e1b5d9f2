import { validateSpec } from '../src/spec/validate';
import { defaultSpec } from '../src/spec/default';
import { validateId } from '../src/state/id';

const base = () => JSON.parse(JSON.stringify(defaultSpec())) as Record<string, any>;

describe('config.json validation', () => {
  it('accepts the default spec and the rootless one', () => {
    expect(() => validateSpec(base())).not.toThrow();
    expect(() => validateSpec(JSON.parse(JSON.stringify(defaultSpec(true, 1000, 1000))))).not.toThrow();
  });

  const cases: [string, (s: Record<string, any>) => void, RegExp][] = [
    ['missing ociVersion', (s) => delete s.ociVersion, /^ociVersion must be a string$/],
    ['unsupported ociVersion', (s) => (s.ociVersion = '2.0.0'), /ociVersion "2.0.0" is not a supported/],
    ['missing root', (s) => delete s.root, /^root must be an object$/],
    ['missing process', (s) => delete s.process, /^process must be an object$/],
    ['empty args', (s) => (s.process.args = []), /process.args must name a program/],
    ['relative cwd', (s) => (s.process.cwd = 'tmp'), /process.cwd must be an absolute path: "tmp"/],
    ['bad uid', (s) => (s.process.user.uid = -1), /process.user.uid must be a non-negative integer/],
    ['env without =', (s) => (s.process.env = ['PATH']), /process.env\[0\] must have the form KEY=VALUE/],
    ['unknown namespace', (s) => s.linux.namespaces.push({ type: 'bogus' }), /linux.namespaces\[6\].type: unknown namespace type "bogus"/],
    ['duplicate namespace', (s) => s.linux.namespaces.push({ type: 'pid' }), /duplicate namespace type "pid"/],
    ['relative namespace path', (s) => (s.linux.namespaces[1].path = 'x'), /linux.namespaces\[1\].path must be absolute/],
    ['hostname without uts', (s) => (s.linux.namespaces = [{ type: 'mount' }]), /hostname requires a new uts namespace/],
    ['relative mount destination', (s) => s.mounts.push({ destination: 'mnt', type: 'tmpfs' }), /mounts\[7\].destination must be an absolute path/],
    ['unknown rlimit', (s) => s.process.rlimits.push({ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }), /process.rlimits\[1\].type: unknown rlimit "RLIMIT_BOGUS"/],
    ['soft above hard', (s) => (s.process.rlimits[0].soft = 2048), /soft limit 2048 is above hard limit 1024/],
    ['unknown capability set', (s) => (s.process.capabilities.nope = []), /process.capabilities.nope: unknown capability set/],
    ['net sysctl without netns', (s) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'network'); s.linux.sysctl = { 'net.ipv4.ip_forward': '1' }; }, /linux.sysctl.net.ipv4.ip_forward requires a new network namespace/],
    ['host sysctl', (s) => (s.linux.sysctl = { 'vm.swappiness': '1' }), /linux.sysctl.vm.swappiness: sysctl is not namespaced/],
    ['uid mappings without userns', (s) => (s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]), /linux.uidMappings requires a user namespace/],
    ['userns without mappings', (s) => s.linux.namespaces.push({ type: 'user' }), /linux.uidMappings and linux.gidMappings are required/],
    ['bad device type', (s) => (s.linux.devices = [{ type: 'x', path: '/dev/x' }]), /linux.devices\[0\].type: unknown device type "x"/],
    ['negative memory', (s) => (s.linux.resources.memory = { limit: -5 }), /linux.resources.memory.limit must not be negative/],
    ['bad cpuset', (s) => (s.linux.resources.cpu = { cpus: 'abc' }), /linux.resources.cpu.cpus: invalid cpu list "abc"/],
    ['hook with relative path', (s) => (s.hooks = { prestart: [{ path: 'x' }] }), /hooks.prestart\[0\].path must be absolute/],
    ['unknown hook kind', (s) => (s.hooks = { preboot: [] }), /hooks.preboot: unknown hook kind/],
    ['bad rootfs propagation', (s) => (s.linux.rootfsPropagation = 'sideways'), /linux.rootfsPropagation: unknown propagation "sideways"/],
    ['intelRdt on a host without it', (s) => (s.linux.intelRdt = { closID: 'x' }), /linux.intelRdt/],
  ];
  it.each(cases)('rejects %s, naming the field', (_name, mutate, message) => {
    const s = base();
    mutate(s);
    expect(() => validateSpec(s)).toThrow(message);
  });
});

describe('container ids', () => {
  it.each([['../x'], [''], ['a/b'], ['..'], ['.'], ['x'.repeat(251)], ['sp ace']])('rejects %j', (id) => {
    expect(() => validateId(id)).toThrow(/container id/);
  });
  it.each([['web-1'], ['a.b_c+d'], ['x'.repeat(250)]])('accepts %j', (id) => {
    expect(validateId(id)).toBe(id);
  });
});

describe('namespaces the runtime insists on', () => {
  it('requires a mount namespace', () => {
    const s = base();
    s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'mount');
    expect(() => validateSpec(s)).toThrow('linux.namespaces: a mount namespace is required');
  });
});
