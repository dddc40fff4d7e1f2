/**
 * @module
 * The Worker's bindings and variables, checked once per isolate. Every other module reads
 * configuration from the parsed {@link Config}, never from raw `env`.
 */
import { z } from 'zod';

const MIN_SECRET_BYTES = 32;
const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

const d1Binding = z.custom<D1Database>(
  (value) => typeof (value as D1Database | undefined)?.prepare === 'function',
  'a D1 database binding',
);
const fetcherBinding = z.custom<Fetcher>((value) => typeof (value as Fetcher | undefined)?.fetch === 'function', 'a Fetcher binding');

const durableObjectBinding = z.custom<DurableObjectNamespace>(
  (value) => typeof (value as DurableObjectNamespace | undefined)?.idFromName === 'function',
  'a Durable Object namespace binding',
);

/** The raw `env` a Worker receives: bindings, `[vars]` and secrets. */
export const BindingsSchema = z.object({
  DB: d1Binding,
  ASSETS: fetcherBinding.optional(),
  ENVIRONMENT: z.enum(['development', 'test', 'production']),
  CORS_ORIGINS: z.string().default(''),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(100 * 1024 * 1024)
    .optional(),
  SESSION_JWT_SECRET: z.string().optional(),
  /** Encrypts what is stored but must not be readable at rest (saved idempotent responses). */
  STORAGE_ENCRYPTION_SECRET: z.string().optional(),
  /** Comma-separated secrets that sealed values still stored may use: set while rotating the secret. */
  STORAGE_ENCRYPTION_PREVIOUS_SECRETS: z.string().default(''),
  /** Failed authentications a client IP may make per minute before it gets 429. */
  AUTH_FAILURE_LIMIT: z.coerce.number().int().min(1).max(1_000_000_000).default(60),
  RATE_LIMITER: durableObjectBinding,
  SESSION_ROOM: durableObjectBinding,
});

export type Bindings = z.input<typeof BindingsSchema>;

/** An origin as browsers send it: scheme, host and optional port, nothing else. */
function isSerializedOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}

/** Names that are never a real site (RFC 2606 / RFC 6761), besides loopback addresses. */
const RESERVED_HOST = /(^|\.)(example|test|invalid|localhost)$|(^|\.)example\.(com|net|org)$/;
const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0)$/;

/** An origin no production page can have: a reserved example name, loopback, or plain http. */
function isPlaceholderOrigin(origin: string): boolean {
  const { protocol, hostname } = new URL(origin);
  return protocol !== 'https:' || RESERVED_HOST.test(hostname) || LOOPBACK_HOST.test(hostname);
}

/**
 * What is wrong with a CORS_ORIGINS value, one message per problem (none: it is fine). The Worker
 * refuses to serve with any (src/middleware/config.ts); `npm run deploy` refuses to deploy with any.
 */
export function corsOriginsProblems(value: string | undefined, production: boolean): string[] {
  const origins = splitList(value ?? '');
  const problems: string[] = [];
  if (production && origins.length === 0) problems.push('must list at least one origin in production');
  for (const origin of origins) {
    if (origin === '*') {
      if (production) problems.push('a wildcard is not allowed in production');
    } else if (!isSerializedOrigin(origin)) {
      problems.push('every entry must be an origin such as https://app.example.com');
    } else if (production && isPlaceholderOrigin(origin)) {
      // The shipped wrangler.toml names a placeholder; a deploy that kept it would admit no real page.
      problems.push('a placeholder, loopback or plain-http origin is not allowed in production: list your own https origins');
    }
  }
  return problems;
}

const ConfigSchema = BindingsSchema.superRefine((env, ctx) => {
  for (const message of corsOriginsProblems(env.CORS_ORIGINS, env.ENVIRONMENT === 'production')) {
    ctx.addIssue({ code: 'custom', path: ['CORS_ORIGINS'], message });
  }
  // Both required everywhere, not only in production: the JWT secret also keys the audit log's IP
  // hashes, and nothing is saved unencrypted. `npm start` writes random ones to .dev.vars.
  checkSecret(ctx, 'SESSION_JWT_SECRET', env.SESSION_JWT_SECRET);
  checkSecret(ctx, 'STORAGE_ENCRYPTION_SECRET', env.STORAGE_ENCRYPTION_SECRET);
  for (const previous of splitList(env.STORAGE_ENCRYPTION_PREVIOUS_SECRETS)) {
    checkSecret(ctx, 'STORAGE_ENCRYPTION_PREVIOUS_SECRETS', previous);
  }
  if (env.STORAGE_ENCRYPTION_SECRET !== undefined && env.STORAGE_ENCRYPTION_SECRET === env.SESSION_JWT_SECRET) {
    // One secret per purpose: rotating the token secret must not make stored values unreadable.
    ctx.addIssue({ code: 'custom', path: ['STORAGE_ENCRYPTION_SECRET'], message: 'must differ from SESSION_JWT_SECRET' });
  }
}).transform((env) => {
  const origins = splitList(env.CORS_ORIGINS);
  return {
    environment: env.ENVIRONMENT,
    production: env.ENVIRONMENT === 'production',
    db: env.DB,
    assets: env.ASSETS,
    corsOrigins: origins.includes('*') ? ('*' as const) : origins,
    logLevel: env.LOG_LEVEL,
    maxBodyBytes: env.MAX_BODY_BYTES ?? DEFAULT_MAX_BODY_BYTES,
    sessionJwtSecret: env.SESSION_JWT_SECRET ?? '',
    storageSecrets: {
      current: env.STORAGE_ENCRYPTION_SECRET ?? '',
      previous: splitList(env.STORAGE_ENCRYPTION_PREVIOUS_SECRETS),
    },
    authFailureLimit: env.AUTH_FAILURE_LIMIT,
    rateLimiter: env.RATE_LIMITER,
    sessionRooms: env.SESSION_ROOM,
  };
});

export type Config = z.output<typeof ConfigSchema>;

function checkSecret(ctx: z.RefinementCtx, name: string, secret: string | undefined): void {
  if (secret === undefined || secret === '') {
    ctx.addIssue({ code: 'custom', path: [name], message: 'is required' });
  } else if (new TextEncoder().encode(secret).byteLength < MIN_SECRET_BYTES) {
    ctx.addIssue({ code: 'custom', path: [name], message: `must be at least ${MIN_SECRET_BYTES} bytes` });
  }
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

// The runtime hands every request of an isolate the same env object, so parsing is done once per
// isolate; tests that pass a different env object get it parsed afresh.
const parsedByEnv = new WeakMap<object, ConfigResult>();

/**
 * Parses the Worker's env. Problems name the variable and the rule, never the value: a value may be a secret.
 */
export function loadConfig(env: object): ConfigResult {
  const cached = parsedByEnv.get(env);
  if (cached) return cached;
  const parsed = ConfigSchema.safeParse(env);
  const result: ConfigResult = parsed.success
    ? { ok: true, config: parsed.data }
    : { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'env'} ${issue.message}`) };
  parsedByEnv.set(env, result);
  return result;
}
