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
 *
 * Two handles, one guard: {@link guardD1Session} wraps a request's D1 session (read replication:
 * middleware/d1-session.ts), {@link guardD1} the plain binding, for work outside a request. Both
 * count against the one breaker of the binding, never of a session (a session lives one request).
 */
import { ApiError, dependencyProblem } from '../errors.ts';
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

/**
 * How D1 refuses a session's bookmark: workerd's own check says `D1_SESSION_ERROR`; D1 documents no
 * message for a bookmark it cannot serve, so any error naming the bookmark counts (none of our SQL does).
 */
const BOOKMARK_REFUSED = /D1_SESSION_ERROR|bookmark/i;

function problemFor(error: unknown, kind: Kind, fromBookmark: boolean): unknown {
  if (fromBookmark && error instanceof Error && BOOKMARK_REFUSED.test(`${error.message} ${String(error.cause ?? '')}`)) {
    return new ApiError('invalid_bookmark', {
      detail: 'The database could not use the Switchyard-Bookmark this request sent: send the request without it.',
      cause: error,
      security: { reason: 'refused_by_d1' },
    });
  }
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

/** What the guard needs of the handle it wraps: the binding whose breaker its calls count against, and how it began. */
interface Guarded {
  binding: D1Database;
  scope: D1Scope;
  /** Whether it is a session started from a client's bookmark, which D1 may refuse. */
  fromBookmark: boolean;
  /** Set by the first call: a session's bookmark means something only once a query has run. */
  queried: boolean;
}

async function run<T>(guarded: Guarded, kind: Kind, call: () => Promise<T>): Promise<T> {
  const { scope } = guarded;
  guarded.queried = true;
  const shared = {
    isTransient: isTransientD1Error,
    isFailure: isOverloaded,
    breaker: breakerOf(guarded.binding),
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
    throw problemFor(error, kind, guarded.fromBookmark);
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

function guardStatement(guarded: Guarded, statement: D1PreparedStatement, sql: string): D1PreparedStatement {
  const kind: Kind = isRead(sql) ? 'read' : 'write';
  const wrapped = {
    bind: (...values: unknown[]) => guardStatement(guarded, statement.bind(...values), sql),
    first: (column?: string) => run(guarded, kind, () => (column === undefined ? statement.first() : statement.first(column))),
    run: () => run(guarded, kind, () => statement.run()),
    all: () => run(guarded, kind, () => statement.all()),
    raw: (options?: { columnNames?: boolean }) =>
      run(guarded, kind, () => (options?.columnNames ? statement.raw({ columnNames: true }) : statement.raw())),
  };
  // The object has every method of D1PreparedStatement; its overloads cannot be spelled as one literal.
  const typed = wrapped as unknown as D1PreparedStatement;
  unguarded.set(typed, statement);
  return typed;
}

/** What a guarded handle sends its queries through: the binding itself, or one of its sessions. */
type D1Queries = Pick<D1Database, 'prepare' | 'batch'>;

function guardQueries(guarded: Guarded, target: D1Queries) {
  return {
    prepare: (sql: string) => guardStatement(guarded, target.prepare(sql), sql),
    // A batch is a transaction of writes (or a read beside one): never repeated here.
    batch: <T>(statements: D1PreparedStatement[]) =>
      run(guarded, 'write', () => target.batch<T>(statements.map((statement) => unguarded.get(statement) ?? statement))),
  };
}

/**
 * The plain binding with every query guarded; none waits past the scope's deadline. Every query of
 * the plain binding goes to the primary database: what runs outside a request uses it (the queue
 * consumer, the crons, a room's outbox, the dispatch after a commit), because each of its reads
 * decides a write (a lease, an undispatched event, a delivery to make) and must see the latest
 * commit, and none of it is a client's read that a nearby replica would answer sooner. `/ready`
 * probes it too: ready means the primary answers.
 */
export function guardD1(db: D1Database, scope: D1Scope = {}): D1Database {
  const guarded: Guarded = { binding: db, scope, fromBookmark: false, queried: false };
  const handle = {
    ...guardQueries(guarded, db),
    exec: (sql: string) => run(guarded, 'write', () => db.exec(sql)),
    withSession: (constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint) => db.withSession(constraintOrBookmark),
    dump: () => db.dump(),
  };
  // As above: the members of D1Database, the session API passed through unguarded (unused here).
  return handle as unknown as D1Database;
}

/** A request's D1 session, guarded, and the bookmark its response hands the client. */
export interface GuardedD1Session {
  /** What the request's handlers and db modules query: it stands in for the binding. */
  db: D1Database;
  /** The latest bookmark the session has seen, once it has run a query (null until then). */
  latestBookmark(): string | null;
}

/**
 * A session of `db` started at `start` (`first-primary`, `first-unconstrained` or a bookmark D1
 * gave: see middleware/d1-session.ts), every query guarded as {@link guardD1}'s are, against the
 * binding's breaker. A bookmark D1 refuses becomes a 400 `invalid_bookmark`, never a 500.
 */
export function guardD1Session(db: D1Database, start: D1SessionConstraint | D1SessionBookmark, scope: D1Scope = {}): GuardedD1Session {
  const session = db.withSession(start);
  const fromBookmark = start !== 'first-primary' && start !== 'first-unconstrained';
  const guarded: Guarded = { binding: db, scope, fromBookmark, queried: false };
  // A session has only prepare and batch (and getBookmark): nothing in a request uses exec, dump
  // or a session of its own, so the D1Database it stands in for has no more.
  const handle = guardQueries(guarded, session) as unknown as D1Database;
  return { db: handle, latestBookmark: () => (guarded.queried ? session.getBookmark() : null) };
}
