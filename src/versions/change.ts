/**
 * @module
 * What a version change module declares: one change between two adjacent dated versions of the
 * API. Handlers only know the newest shape; a change module turns a response of the newer shape
 * into the older one (for a client still pinned before the change) and an older client's request
 * into the newer one, by operation. Its `description` is what the spec lists for the version.
 */

/** A JSON value as a transform sees it: parsed, free to rebuild. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object, the shape of every body a transform sees. */
export type JsonObject = { [key: string]: Json };

export interface VersionChange {
  /** A short name, kebab case, for logs and the spec (e.g. `session-max-connections`). */
  name: string;
  /** What changed and why, in a sentence or two of Markdown: listed in the spec under its version. */
  description: string;
  /**
   * By operationId: the body of a 2xx JSON response in the newer shape, as the older version shows
   * it. Errors (problem documents) are the same in every version and never pass through here.
   */
  responses: Readonly<Record<string, (body: JsonObject) => JsonObject>>;
  /** By operationId: a request body an older client sent, in the newer shape the handler validates. */
  requests?: Readonly<Record<string, (body: JsonObject) => JsonObject>>;
}
