// Tasks: containers' running state over the runtime library and berth-shim (see manager.ts).
export { TaskManager, Tasks } from './manager';
export type { TaskManagerOptions, TaskPublish, TaskStatus, Stdio, ProcessInfo, ExitInfo, CreateTaskOptions } from './manager';
export { openExecFifo } from './fifo';
