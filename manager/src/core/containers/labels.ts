// The labels that make a containerd container record a Docker-style berth container.
//
// The berth client keeps no state of its own (issue: "it holds no state"): everything Docker
// keeps about a container beyond containerd's record lives in that record's labels, written by
// the client at create (what the user asked for) and by berthd afterwards (what happened).
// berthd acts only on containers labelled CREATED_BY = "berth" (ctr's containers are left as
// containerd would leave them). Restart policy labels are containerd's own (its restart
// monitor plugin uses the same keys), so other containerd clients can set them too.

/** "berth": the container was made by the berth client; berthd records its state and policies. */
export const CREATED_BY = 'berth/created-by';
/** The container's name, without Docker's leading "/"; unique per namespace (berthd refuses a duplicate). */
export const NAME = 'berth/name';
/** "true": remove the container (task, record, snapshot) once it exits (`run --rm`), done by berthd. */
export const AUTO_REMOVE = 'berth/auto-remove';
/** `--stop-signal` (e.g. "SIGTERM", "SIGQUIT") and `--stop-timeout` (seconds) for stop/restart. */
export const STOP_SIGNAL = 'berth/stop-signal';
export const STOP_TIMEOUT = 'berth/stop-timeout';
/** "true" (`-i`): the task's stdin stays open for attach (the shim's --open-stdin). */
export const STDIN_OPEN = 'berth/stdin-open';
/** "true" (`-t`): the task gets a terminal. */
export const TTY = 'berth/tty';
/** The image reference as the user typed it ("busybox"), for ps/inspect. */
export const IMAGE_REF = 'berth/image';
/** Run options only inspect reads back (Docker's HostConfig/Config extras): a container
 *  extension of this key, not a label (labels hold 4 KiB at most) — see run-config.ts. */
export const RUN_CONFIG = 'berth/run-config';

/** What berthd records as the container's life goes on (Docker's State). Times are RFC 3339 UTC. */
export const STATE_STARTED_AT = 'berth/state.started-at';
export const STATE_FINISHED_AT = 'berth/state.finished-at';
export const STATE_EXIT_CODE = 'berth/state.exit-code';
export const STATE_OOM_KILLED = 'berth/state.oom-killed';
export const STATE_ERROR = 'berth/state.error';

/** containerd's restart monitor keys: policy "no" | "always" | "on-failure[:N]" | "unless-stopped". */
export const RESTART_POLICY = 'containerd.io/restart.policy';
/** The desired status, "running" or "stopped"; berthd restarts only what should be running. */
export const RESTART_STATUS = 'containerd.io/restart.status';
/** How many times berthd has restarted the container. */
export const RESTART_COUNT = 'containerd.io/restart.count';
/** "true" once the user stopped it (`stop`, `kill`): unless-stopped stays stopped across berthd restarts. */
export const RESTART_EXPLICITLY_STOPPED = 'containerd.io/restart.explicitly-stopped';
