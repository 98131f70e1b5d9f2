// `events`: containerd's events (topic + payload) as Docker's event messages, their one-line
// form, Docker's filters, and the times --since/--until take. Pure.
//
//   /containers/create → container create     /tasks/start   → container start
//   /containers/update → container update     /tasks/exit    → container die (exitCode)
//   /containers/delete → container destroy                     or exec_die for an exec
//   /tasks/paused      → container pause      /tasks/oom     → container oom
//   /tasks/resumed     → container unpause    /tasks/exec-added, exec-started → exec_create, exec_start
//   /images/create, /images/update → image tag;  /images/delete → image delete
// Other topics (snapshots, content, namespaces, task create/delete) have no Docker event.

export interface ContainerFacts {
  name: string;
  image: string;
}

export interface DockerEvent {
  Type: 'container' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Docker's older fields, kept for templates that use them. */
  status: string;
  id: string;
  from: string;
}

type Obj = Record<string, unknown>;

/**
 * The Docker event for a decoded containerd event, or undefined when it has none. `container`
 * gives a container's name and image (undefined: not a berth container, no event).
 */
export function toDockerEvent(
  topic: string,
  ev: Obj,
  at: Date,
  container: (id: string) => ContainerFacts | undefined,
  previousLabels?: Record<string, string>,
): DockerEvent | undefined {
  const make = (type: DockerEvent['Type'], action: string, id: string, attrs: Record<string, string>): DockerEvent => {
    const timeNano = at.getTime() * 1e6;
    return { Type: type, Action: action, Actor: { ID: id, Attributes: attrs }, scope: 'local', time: Math.floor(at.getTime() / 1000), timeNano, status: action, id, from: attrs.image ?? '' };
  };
  if (topic.startsWith('/images/')) {
    const name = String(ev.name ?? '');
    if (topic === '/images/delete') return make('image', 'delete', name, { name });
    return make('image', 'tag', name, { name });
  }
  const id = String(ev.containerId ?? ev.id ?? '');
  const c = container(id);
  if (!c) return undefined;
  const attrs: Record<string, string> = { image: c.image, name: c.name };
  const exec = (action: string) => make('container', action, id, { ...attrs, execID: String(ev.execId ?? '') });
  switch (topic) {
    case '/containers/create':
      return make('container', 'create', id, attrs);
    case '/containers/update': {
      const change = updateKind(previousLabels, (ev.labels ?? {}) as Record<string, string>);
      if (change === 'none') return undefined;
      if (change === 'rename') return make('container', 'rename', id, { ...attrs, oldName: `/${previousLabels?.[NAME_LABEL] ?? ''}` });
      return make('container', 'update', id, attrs);
    }
    case '/containers/delete':
      return make('container', 'destroy', id, attrs);
    case '/tasks/start':
      return make('container', 'start', id, attrs);
    case '/tasks/exit': {
      const code = String(ev.exitStatus ?? 0);
      if (ev.id && ev.id !== id) return make('container', 'exec_die', id, { ...attrs, execID: String(ev.id), exitCode: code });
      return make('container', 'die', id, { ...attrs, exitCode: code });
    }
    case '/tasks/oom':
      return make('container', 'oom', id, attrs);
    case '/tasks/paused':
      return make('container', 'pause', id, attrs);
    case '/tasks/resumed':
      return make('container', 'unpause', id, attrs);
    case '/tasks/exec-added':
      return exec('exec_create');
    case '/tasks/exec-started':
      return exec('exec_start');
    default:
      return undefined;
  }
}

const NAME_LABEL = 'berth/name';
/** Labels berth and berthd write as a container's life goes on: not a user's update. */
const BOOKKEEPING = /^(containerd\.io\/restart\.(status|count|explicitly-stopped)|berth\/state\..*)$/;

/**
 * What a /containers/update was, from the labels before and after: a rename (berth/name
 * changed), bookkeeping only (restart and state labels: no Docker event), or an update (other
 * labels, or none changed at all: the spec or the run config, as `berth update` changes them).
 */
export function updateKind(before: Record<string, string> | undefined, after: Record<string, string>): 'rename' | 'none' | 'update' {
  if (!before) return 'update';
  if ((before[NAME_LABEL] ?? '') !== (after[NAME_LABEL] ?? '')) return 'rename';
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]);
  if (changed.length && changed.every((k) => BOOKKEEPING.test(k))) return 'none';
  return 'update';
}

/** RFC 3339 with nanoseconds (berthd's times have milliseconds), in UTC: Docker's time column. */
export function rfc3339Nano(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  return `${iso.slice(0, 23)}000000Z`;
}

/** Docker's default line: `<time> <type> <action> <id> (k=v, ...)`, attributes sorted. */
export function eventLine(e: DockerEvent): string {
  const attrs = Object.keys(e.Actor.Attributes)
    .sort()
    .map((k) => `${k}=${e.Actor.Attributes[k]}`);
  return `${rfc3339Nano(Math.round(e.timeNano / 1e6))} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(', ')})` : ''}`;
}

const FILTER_KEYS = new Set(['container', 'event', 'type', 'image', 'label']);

/** `-f key=value` filters: values of one key OR, keys AND. Throws with Docker's message for a bad one. */
export function parseEventFilters(specs: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const s of specs) {
    const i = s.indexOf('=');
    if (i <= 0) throw new Error(`bad format of filter (expected name=value): ${s}`);
    const key = s.slice(0, i).toLowerCase();
    if (!FILTER_KEYS.has(key)) throw new Error(`invalid filter '${key}'`);
    m.set(key, [...(m.get(key) ?? []), s.slice(i + 1)]);
  }
  return m;
}

/** Whether the event passes the filters (`container`: id, id prefix or name; `label`: key or key=value on the container). */
export function matchesFilters(e: DockerEvent, filters: Map<string, string[]>, labels: Record<string, string> = {}): boolean {
  for (const [key, values] of filters) {
    const ok = values.some((v) => {
      switch (key) {
        case 'container':
          return e.Type === 'container' && (e.Actor.ID === v || (v.length >= 1 && e.Actor.ID.startsWith(v)) || e.Actor.Attributes.name === v);
        case 'event':
          return e.Action === v;
        case 'type':
          return e.Type === v;
        case 'image':
          return e.Actor.Attributes.image === v || (e.Type === 'image' && e.Actor.ID === v);
        case 'label': {
          const j = v.indexOf('=');
          return j < 0 ? v in labels : labels[v.slice(0, j)] === v.slice(j + 1);
        }
        default:
          return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A --since/--until value as ms since the epoch: Unix seconds ("1700000000", "1700000000.5"),
 * a Go duration before now ("10m", "1h30m"), or an RFC 3339 date/time. Undefined: not a time.
 */
export function parseEventTime(value: string, now: number): number | undefined {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (/^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    return now - ms;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}
