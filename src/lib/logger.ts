/**
 * @module
 * Structured JSON logs, one object per line, redacted before they are written. Workers Logs
 * indexes the fields of a JSON line, so every field here is queryable in production.
 */
import { redact } from './redact.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line it writes. */
  child(fields: Record<string, unknown>): Logger;
}

/**
 * Creates a logger writing to the console, which the Workers runtime ships to Workers Logs.
 *
 * @example
 * ```ts
 * const log = createLogger('info').child({ request_id: 'req_1' })
 * log.info('request', { status: 200 })  // {"level":"info","msg":"request","request_id":"req_1","status":200,…}
 * ```
 */
export function createLogger(minimum: LogLevel, base: Record<string, unknown> = {}): Logger {
  const write = (level: LogLevel, message: string, fields: Record<string, unknown> = {}) => {
    if (LEVEL_RANK[level] < LEVEL_RANK[minimum]) return;
    const line = redact({ level, msg: message, time: new Date().toISOString(), ...base, ...fields });
    const text = JSON.stringify(line);
    if (level === 'error') console.error(text);
    else if (level === 'warn') console.warn(text);
    else console.log(text);
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields) => createLogger(minimum, { ...base, ...fields }),
  };
}
