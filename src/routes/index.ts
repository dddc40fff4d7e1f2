/**
 * @module
 * Every operation, registered in one place, grouped by resource.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context.ts';
import { registerDocs } from './docs/docs.ts';
import { getHealth, getHealthRoute } from './system/get-health.ts';
import { getReady, getReadyRoute } from './system/get-ready.ts';

export function registerRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(getHealthRoute, getHealth);
  app.openapi(getReadyRoute, getReady);
  registerDocs(app);
}
