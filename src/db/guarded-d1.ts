/**
 * @module
 * The D1 binding every request uses: each query runs under a deadline, a read that fails in a way
 * D1 documents as transient is repeated with backoff, and a circuit breaker per binding fails
 * requests fast while D1 keeps failing. The db modules and handlers are unchanged: they see a
 * D1Database.
 *
 * Reads repeat, writes do not: a write whose reply was lost may have committed, and repeating it
 * here would make it twice. A write that fails or times out answers 503 / 504 saying the change
 * may have been made; the client repeats it with the same `Idempotency-Key`, and the record that
 * committed with the change (middleware/idempotency.ts) answers the repeat instead of running it
 * again. A timeout or a transient failure becomes a problem with `Retry-After`, never a 500; an
 * answer from D1 that is not transient (a constraint, bad SQL) passes through as it is.
 */
import { dependencyProblem } from '../errors.ts';
import type { RequestMeter, Telemetry } from '../lib/metrics.ts';
import {
  breakerFor,
  type CircuitBreaker,
  CircuitOpenError,
  type CircuitState,
  type GuardOptions,
  guardedCall,
  TimeoutError,
} from '../lib/resilience.ts';

/** One attempt's deadline: a D1 query answers in milliseconds, so a second means it is stuck. */
const D1_READ_TIMEOUT_MS = 1_000;
const D1_WRITE_TIMEOUT_MS = 2_000;
/** All attempts of a read, and the waits between them. */
const D1_READ_BUDGET_MS = 2_500;
export const D1_BREAKER = { failureThreshold: 5, openMs: 5_000 } as const;
const READ_RETRY = { attempts: 3, baseDelayMs: 25, maxDelayMs: 200 } as const;

/**
 * The failures Cloudflare documents as transient for D1: the connection dropped, the database's
 * storage object was reset, or an internal error. "Overloaded" is not among them: repeating adds load.
 */
const TRANSIENT = /Network connection lost|storage caused object to be reset|D1_ERROR.*internal/i;
const OVERLOADED = /overloaded/i;

function isTransientD1Error(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const text = `${error.message} ${String(error.cause ?? '')}`;
  return TRANSIENT.test(text) && !OVERLOADED.test(text);
}

/** What the breaker counts besides transient failures: an overloaded database is not answering either. */
function isOverloaded(error: unknown): boolean {
  return error instanceof Error && OVERLOADED.test(`${error.message} ${String(error.cause ?? '')}`);
}

function breakerOf(db: D1Database): CircuitBreaker {
  return breakerFor(db, 'D1', D1_BREAKER);
}

/** This isolate's breaker state for the (unguarded) binding, for `/ready`. */
export function d1Circuit(db: D1Database): CircuitState {
  return breakerOf(db).state();
}

type Kind = 'read' | 'write';

const MAY_HAVE_CHANGED =
  'The change may have been made: repeat the request with the same Idempotency-Key (or read the resource) to learn its outcome.';

function problemFor(error: unknown, kind: Kind): unknown {
  const failed = error instanceof CircuitOpenError || error instanceof TimeoutError || isTransientD1Error(error) || isOverloaded(error);
  return failed ? dependencyProblem('The database', error, kind === 'write' ? MAY_HAVE_CHANGED : '') : error;
}

/** What a guarded binding knows of the work it serves: its deadline, where its events and D1 time are counted. */
export interface D1Scope {
  /** `Date.now()` past which no query waits (the request's deadline). */
  deadlineAt?: number;
  telemetry?: Telemetry;
  /** The request's meter: each query (a batch is one) adds its time, retries and waits included. */
  meter?: RequestMeter;
}

async function run<T>(db: D1Database, scope: D1Scope, kind: Kind, call: () => Promise<T>): Promise<T> {
  const shared = {
    isTransient: isTransientD1Error,
    isFailure: isOverloaded,
    breaker: breakerOf(db),
    deadlineAt: scope.deadlineAt,
    telemetry: scope.telemetry,
    dependency: 'D1',
  };
  const options: GuardOptions =
    kind === 'read'
      ? { ...shared, label: 'D1 read', timeoutMs: D1_READ_TIMEOUT_MS, budgetMs: D1_READ_BUDGET_MS, retry: READ_RETRY }
      : {
          ...shared,
          label: 'D1 write',
          timeoutMs: D1_WRITE_TIMEOUT_MS,
          budgetMs: D1_WRITE_TIMEOUT_MS,
          retry: { ...READ_RETRY, attempts: 1 },
        };
  const started = performance.now();
  try {
    return await guardedCall(call, options);
  } catch (error) {
    throw problemFor(error, kind);
  } finally {
    if (scope.meter !== undefined) {
      scope.meter.d1Ms += performance.now() - started;
      scope.meter.d1Queries += 1;
    }
  }
}

// The real statement behind each guarded one, so a batch hands D1 the statements it made.
const unguarded = new WeakMap<D1PreparedStatement, D1PreparedStatement>();

function isRead(sql: string): boolean {
  return /^\s*(SELECT|WITH)\b/i.test(sql);
}

function guardStatement(db: D1Database, scope: D1Scope, statement: D1PreparedStatement, sql: string): D1PreparedStatement {
  const kind: Kind = isRead(sql) ? 'read' : 'write';
  const guarded = {
    bind: (...values: unknown[]) => guardStatement(db, scope, statement.bind(...values), sql),
    first: (column?: string) => run(db, scope, kind, () => (column === undefined ? statement.first() : statement.first(column))),
    run: () => run(db, scope, kind, () => statement.run()),
    all: () => run(db, scope, kind, () => statement.all()),
    raw: (options?: { columnNames?: boolean }) =>
      run(db, scope, kind, () => (options?.columnNames ? statement.raw({ columnNames: true }) : statement.raw())),
  };
  // The object has every method of D1PreparedStatement; its overloads cannot be spelled as one literal.
  const typed = guarded as unknown as D1PreparedStatement;
  unguarded.set(typed, statement);
  return typed;
}

/** `db` with every query guarded; none waits past the scope's deadline (the request's, when there is one). */
export function guardD1(db: D1Database, scope: D1Scope = {}): D1Database {
  const guarded = {
    prepare: (sql: string) => guardStatement(db, scope, db.prepare(sql), sql),
    // A batch is a transaction of writes (or a read beside one): never repeated here.
    batch: <T>(statements: D1PreparedStatement[]) =>
      run(db, scope, 'write', () => db.batch<T>(statements.map((statement) => unguarded.get(statement) ?? statement))),
    exec: (sql: string) => run(db, scope, 'write', () => db.exec(sql)),
    withSession: (constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint) => db.withSession(constraintOrBookmark),
    dump: () => db.dump(),
  };
  // As above: the members of D1Database, the session API passed through unguarded (unused here).
  return guarded as unknown as D1Database;
}
