// What a registry's answer means to the caller: its error body ({"errors":[{code,message}]},
// shown the way Docker shows it: "manifest unknown: manifest unknown") and the ManagerError
// kind for the status — 401/403 PermissionDenied, 404 NotFound, 5xx/429 Unavailable.

import { STATUS_CODES } from 'node:http';
import { failedPrecondition, invalidArgument, ManagerError, notFound, notImplemented, permissionDenied, unavailable } from '../errors';

interface RegistryErrorBody {
  errors?: Array<{ code?: string; message?: string; detail?: unknown }>;
}

/** "manifest unknown: manifest unknown; blob unknown: …" from a registry's error JSON, or the text itself (trimmed), or "". */
export function describeErrorBody(body: Buffer | string): string {
  const text = body.toString().trim();
  if (!text) return '';
  try {
    const doc = JSON.parse(text) as RegistryErrorBody;
    if (Array.isArray(doc.errors) && doc.errors.length > 0) {
      return doc.errors
        .map((e) => {
          const code = (e.code ?? 'unknown').toLowerCase().replace(/_/g, ' ');
          return e.message ? `${code}: ${e.message}` : code;
        })
        .join('; ');
    }
  } catch {
    // not JSON: show a little of it
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export type Action = 'pull' | 'push';

/**
 * The error for an HTTP answer that is not success. `what` names the thing asked for (the
 * reference, or "blob sha256:…" in a repository); `repository` the repository for the
 * access-denied message.
 */
export function statusError(status: number, detail: string, ctx: { what: string; repository: string; action: Action; request: string }): ManagerError {
  const suffix = detail ? `: ${detail}` : '';
  if (status === 401 || status === 403) {
    return permissionDenied(`${ctx.action} access denied for ${ctx.repository}, repository does not exist or may require 'berth login'${suffix}`);
  }
  if (status === 404) return notFound(`${ctx.what} not found${suffix}`);
  if (status === 429 || status >= 500) return unavailable(`${ctx.request}: ${status} ${httpText(status)}${suffix}`);
  if (status === 405 || status === 501) return notImplemented(`${ctx.request}: ${status} ${httpText(status)}${suffix}`);
  if (status === 416 || status === 409) return failedPrecondition(`${ctx.request}: ${status} ${httpText(status)}${suffix}`);
  return invalidArgument(`${ctx.request}: ${status} ${httpText(status)}${suffix}`);
}

const httpText = (status: number): string => STATUS_CODES[status] ?? '';
