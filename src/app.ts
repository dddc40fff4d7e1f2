/**
 * @module
 * createApp(): the middleware order, error rendering and route registration. Nothing else renders
 * an error: every failure becomes an {@link ApiError} and leaves through `onError`.
 */
import { type Hook, OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { requestId } from 'hono/request-id';
import type { AppEnv } from './context.ts';
import { ApiError, codeForStatus, renderProblem } from './errors.ts';
import { apiVersion } from './middleware/api-version.ts';
import { requireValidConfig } from './middleware/config.ts';
import { cors } from './middleware/cors.ts';
import { d1Session } from './middleware/d1-session.ts';
import { REQUEST_DEADLINE_MS, requestDeadline } from './middleware/deadline.ts';
import { requestContext } from './middleware/request-context.ts';
import { urlLimits } from './middleware/request-limits.ts';
import { securityHeaders } from './middleware/security-headers.ts';
import { registerComponents } from './openapi.ts';
import { registerRoutes } from './routes/index.ts';
import type { FieldError } from './schemas/problem.ts';

const LOCATION_BY_TARGET: Record<string, FieldError['location']> = {
  json: 'body',
  query: 'query',
  param: 'path',
  header: 'header',
};

function toPointer(path: ReadonlyArray<PropertyKey>): string {
  return path.map((segment) => `/${String(segment).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** zod-openapi's validation hook: every invalid field becomes one entry of a 400 problem. */
const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (result.success) return;
  const location = LOCATION_BY_TARGET[result.target] ?? 'body';
  const errors: FieldError[] = result.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          location,
          pointer: toPointer([...issue.path, key]),
          detail: location === 'query' ? 'Unknown query parameter' : 'Unknown field',
          code: 'unknown_field',
        }))
      : [{ location, pointer: toPointer(issue.path), detail: issue.message, code: issue.code }],
  );
  const summary = errors.map((error) => `${error.location}${error.pointer}: ${error.detail}`).join('; ');
  throw new ApiError('validation_failed', { detail: summary, errors });
};

const NEW_REQUEST_ID = () => `req_${crypto.randomUUID().replaceAll('-', '')}`;

export interface AppOptions {
  /** The request deadline (middleware/deadline.ts); tests shorten it. */
  requestDeadlineMs?: number;
}

export function createApp(options: AppOptions = {}): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: true });

  // Order matters: ids and logging first so every response has them, security headers around
  // everything after so even the configuration failure carries them.
  app.use(requestId({ generator: NEW_REQUEST_ID, limitLength: 128 }));
  app.use(requestContext());
  app.use(securityHeaders());
  // Before anything that can refuse the request, so that every answer names its version.
  app.use(apiVersion());
  app.use(requestDeadline(options.requestDeadlineMs ?? REQUEST_DEADLINE_MS));
  app.use(requireValidConfig());
  app.use(cors());
  app.use(urlLimits());
  // The request's D1 session (read replication) in place of the binding, before any route reads D1;
  // inside CORS so that a refused bookmark's 400 is readable by a browser too.
  app.use(d1Session());
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        renderProblem(
          c,
          new ApiError('method_not_allowed', {
            detail: `${c.req.method} is not allowed here; use ${methods.join(', ')}.`,
            headers: { Allow: methods.join(', ') },
          }),
        ),
    }),
  );

  registerComponents(app);
  registerRoutes(app);

  app.notFound((c) => renderProblem(c, new ApiError('not_found', { detail: `No route matches ${c.req.method} ${c.req.path}.` })));

  app.onError((error, c) => {
    if (error instanceof ApiError) {
      // The cause (a failed query, a bad setting) goes to the request's log line, never to the client.
      if (error.cause !== undefined) c.set('unexpectedError', error.cause);
      return renderProblem(c, error);
    }
    if (error instanceof HTTPException && error.status < 500) {
      // Raised by Hono itself (malformed JSON, the media-type gate): its message is meant for clients.
      return renderProblem(c, new ApiError(codeForStatus(error.status), { detail: error.message }));
    }
    c.set('unexpectedError', error);
    return renderProblem(
      c,
      new ApiError('internal_error', { detail: 'An unexpected error occurred. Quote the request id when reporting it.' }),
    );
  });

  return app;
}
