// Tasks: containers' running state over the runtime library and berth-shim (see manager.ts).
export { TaskManager, Tasks } from './manager';
export type { TaskManagerOptions, TaskPublish, TaskStatus, Stdio, ProcessInfo, ExitInfo, CreateTaskOptions, DefaultIo, Attachment } from './manager';
export type { AttachOptions, AttachedStreams } from './attach';
export { openExecFifo } from './fifo';
