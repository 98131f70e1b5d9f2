// `berth exec -d`: nobody waits for a detached exec, so nobody would delete its process record
// (containerd keeps an exited exec until DeleteProcess; the shim keeps its exit status). The
// client marks such an exec by its id, which berthd sees in every task event; berthd deletes
// the process once its /tasks/exit is out (plugins/berth-containers.ts), for berth containers
// only. A task running detached execs for days then holds only the live ones.

/** Exec ids that start with this are deleted by berthd when they exit. */
export const DETACHED_EXEC_PREFIX = 'detached-';

export const isDetachedExec = (execId: string): boolean => execId.startsWith(DETACHED_EXEC_PREFIX);
