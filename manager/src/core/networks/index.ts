// berth's networks over CNI: see manager.ts for the whole picture.
export * from './cni';
export * from './conflist';
export * from './dns-message';
export * from './dns-server';
export * from './ipv4';
export * from './manager';
export * from './netns';
export * from './port-allocator';
export * from './ports';
export * from './sandboxes';
export * from './store';
