/**
 * @module
 * The route a request matched, as its template (`/v1/devices/:id`), never the path: logs and
 * metrics group by it, and a path would carry ids (and whatever a caller puts in one).
 */
import type { Context } from 'hono';
import { routePath } from 'hono/route';

/** The matched route's template, or null when only the catch-all matched (an unknown path). */
export function routeTemplate(c: Context): string | null {
  const route = routePath(c, -1);
  return route === '/*' || route === '*' ? null : route;
}
