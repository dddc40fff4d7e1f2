/**
 * @module
 * The request's D1: a session of the binding (the D1 Sessions API, through which D1 read
 * replication serves reads from replicas near the Worker), guarded like every D1 handle
 * (db/guarded-d1.ts), in place of the binding in `config.db`. It starts
 * - for a change (any method but GET, HEAD, OPTIONS) with `first-primary`: its first query goes to
 *   the primary and every later one to a copy at least that fresh. A change decides on what it
 *   reads (the idempotency record of a repeat, an `If-Match` version, whether a key may act), and a
 *   replica behind the primary could make a repeat run twice or a stale version pass. A bookmark
 *   it carries is checked but not needed: the primary is at least as fresh as any bookmark;
 * - for a read, from the client's `Switchyard-Bookmark` when it sends one: every query reads data at
 *   least as fresh as the response that gave it (read-your-writes across requests and replicas);
 * - for a read without one, `first-unconstrained`: any copy, the nearest, however far behind the
 *   primary it is (replica lag), and then no older than what the first query saw.
 * Beside it, `primaryDb`: the plain binding, guarded alike, for what must read the latest commit
 * (middleware/auth.ts reads an API key it has not cached from the primary, so a new key works and a
 * revoked one stops, within the key cache's TTL, whatever the replica lag).
 * Its response carries the session's latest bookmark, signed (lib/bookmark-token.ts), when the
 * request queried D1. A header that is not a token this API signed is a 400 `invalid_bookmark`,
 * before anything else is done with the request.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { guardD1, guardD1Session } from '../db/guarded-d1.ts';
import type { Config } from '../env.ts';
import { ApiError } from '../errors.ts';
import { type BookmarkKeyring, bookmarkKeyring, openBookmark, signBookmark } from '../lib/bookmark-token.ts';
import { BOOKMARK_HEADER } from '../schemas/responses.ts';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// By the parsed secrets, which config.ts keeps per env (so per isolate): no cache key to build per request.
const keyrings = new WeakMap<Config['storageSecrets'], Promise<BookmarkKeyring>>();

function keyringOf(config: Config): Promise<BookmarkKeyring> {
  let keyring = keyrings.get(config.storageSecrets);
  if (keyring === undefined) {
    keyring = bookmarkKeyring(config.storageSecrets.current, config.storageSecrets.previous);
    keyrings.set(config.storageSecrets, keyring);
  }
  return keyring;
}

/**
 * @example
 * ```ts
 * app.use(d1Session())  // after requireValidConfig(), whose config.db it replaces with the session
 * ```
 */
export function d1Session(): MiddlewareHandler<AppEnv> {
  return async function d1Session(c, next) {
    const config = c.get('config');
    const presented = c.req.header(BOOKMARK_HEADER);
    let bookmark: string | undefined;
    if (presented !== undefined) {
      bookmark = await openBookmark(await keyringOf(config), presented);
      if (bookmark === undefined) {
        throw new ApiError('invalid_bookmark', {
          detail: `The ${BOOKMARK_HEADER} header is not one this API issued: send the latest one a response carried, or none.`,
          security: { reason: 'not_issued', details: { length: presented.length } },
        });
      }
    }
    const start = READ_METHODS.has(c.req.method) ? (bookmark ?? 'first-unconstrained') : 'first-primary';
    const scope = { deadlineAt: c.get('deadlineAt'), telemetry: c.get('telemetry'), meter: c.get('meter') };
    const session = guardD1Session(config.db, start, scope);
    c.set('primaryDb', guardD1(config.db, scope));
    c.set('config', { ...config, db: session.db });
    await next();
    const latest = session.latestBookmark();
    if (latest === null) return;
    const token = await signBookmark(await keyringOf(config), latest);
    if (token === undefined) {
      // Never expected (lib/bookmark-token.ts says which bookmarks are signed): the client keeps the one it had.
      c.get('logger').warn('D1 gave a bookmark of an unexpected form; the response carries none', { length: latest.length });
      return;
    }
    // Straight on the response: c.header() on a finished response copies the whole Response first.
    c.res.headers.set(BOOKMARK_HEADER, token);
  };
}
