/**
 * @module
 * Rendering a body in another version: the change modules between a version and the newest,
 * applied in order. A response goes down from the newest (the newest change undone first); a
 * request comes up from the client's version (the oldest change applied first).
 */
import type { JsonObject } from './change.ts';
import { type ApiVersion, RELEASES } from './versions.ts';

/** The changes released after `version`, oldest first: what a client pinned to it has not adopted. */
function changesAfter(version: ApiVersion) {
  const index = RELEASES.findIndex((release) => release.date === version);
  return RELEASES.slice(index + 1).flatMap((release) => release.changes);
}

/** Whether a request or response of `operationId` looks different in `version` than in the newest. */
export function differsIn(version: ApiVersion, operationId: string): boolean {
  return changesAfter(version).some((change) => operationId in change.responses || operationId in (change.requests ?? {}));
}

/** The operations some change transforms: only their routes pay for the rendering middleware. */
export function transformedOperations(): Set<string> {
  const changes = RELEASES.flatMap((release) => release.changes);
  return new Set(changes.flatMap((change) => [...Object.keys(change.responses), ...Object.keys(change.requests ?? {})]));
}

/** A newest-shaped response body of `operationId`, as `version` shows it. */
export function responseIn(version: ApiVersion, operationId: string, body: JsonObject): JsonObject {
  return changesAfter(version)
    .reverse()
    .reduce((shaped, change) => change.responses[operationId]?.(shaped) ?? shaped, body);
}

/** A request body of `operationId` sent in `version`, in the newest shape. */
export function requestFrom(version: ApiVersion, operationId: string, body: JsonObject): JsonObject {
  return changesAfter(version).reduce((shaped, change) => change.requests?.[operationId]?.(shaped) ?? shaped, body);
}
