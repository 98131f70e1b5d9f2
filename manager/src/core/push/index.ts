// The push pipeline: a local image to a registry repository (push.ts).
export { push } from './push';
export type { PushDeps, PushOptions, PushResult } from './push';
