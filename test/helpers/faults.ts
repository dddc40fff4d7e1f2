/**
 * Fault injection in the Workers runtime: a wrapper around the real D1 binding (used only by tests)
 * that makes chosen calls fail the ways D1 fails in production. Cloudflare's own failures cannot be
 * caused here, so their documented error messages are thrown instead; every other call reaches the
 * real database.
 */
import { env } from 'cloudflare:workers';

export const D1_FAILURES = {
  connectionLost: 'D1_ERROR: Network connection lost.',
  objectReset: 'D1_ERROR: Internal error in D1 DB storage caused object to be reset.',
  internal: 'D1_ERROR: internal error; reference = 0123456789abcdef',
  overloaded: 'D1_ERROR: D1 DB is overloaded. Too many requests queued.',
} as const;

export type Fault =
  /** Fails before the query reaches the database. */
  | { kind: 'fail'; message: string }
  /** Never answers. */
  | { kind: 'hang' }
  /** Runs on the database, then the reply is lost. */
  | { kind: 'lose-reply'; message: string };

export interface D1Call {
  /** The statements' SQL: one for a query, several for a batch. */
  sql: string[];
  method: 'first' | 'all' | 'run' | 'raw' | 'batch';
}

export interface FaultyD1 {
  db: D1Database;
  /** Every call that reached the wrapper, in order. */
  calls: D1Call[];
}

/**
 * The real D1 binding with every call going through `inject` (given the call and the work that
 * reaches the database), so a wrapper decides per call whether and how it fails.
 */
function interceptD1(inject: <T>(call: D1Call, work: () => Promise<T>) => Promise<T>): D1Database {
  const db = {
    ...interceptQueries(env.DB, inject),
    exec: (sql: string) => env.DB.exec(sql),
    // Each request's D1 is a session of the binding (src/middleware/d1-session.ts): its calls go through `inject` too.
    withSession: (constraintOrBookmark?: string) => {
      const session = env.DB.withSession(constraintOrBookmark);
      return { ...interceptQueries(session, inject), getBookmark: () => session.getBookmark() };
    },
  };
  // The members of D1Database the Worker uses.
  return db as unknown as D1Database;
}

/** `real`'s prepare and batch (the binding's or a session's), every call going through `inject`. */
function interceptQueries(real: Pick<D1Database, 'prepare' | 'batch'>, inject: <T>(call: D1Call, work: () => Promise<T>) => Promise<T>) {
  const realOf = new WeakMap<object, D1PreparedStatement>();
  const sqlOf = new WeakMap<object, string>();
  const wrap = (statement: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapped = {
      bind: (...values: unknown[]) => wrap(statement.bind(...values), sql),
      first: (column?: string) => inject({ sql: [sql], method: 'first' }, () => (column ? statement.first(column) : statement.first())),
      all: () => inject({ sql: [sql], method: 'all' }, () => statement.all()),
      run: () => inject({ sql: [sql], method: 'run' }, () => statement.run()),
      raw: () => inject({ sql: [sql], method: 'raw' }, () => statement.raw()),
    };
    realOf.set(wrapped, statement);
    sqlOf.set(wrapped, sql);
    // Every method of D1PreparedStatement; the overloads cannot be spelled as one literal.
    return wrapped as unknown as D1PreparedStatement;
  };
  return {
    prepare: (sql: string) => wrap(real.prepare(sql), sql),
    batch: (statements: D1PreparedStatement[]) =>
      inject({ sql: statements.map((statement) => sqlOf.get(statement) ?? '?'), method: 'batch' }, () =>
        real.batch(statements.map((statement) => realOf.get(statement) ?? statement)),
      ),
  };
}

/** Fails the `times` calls that `matches` picks (from the first matching call on), then lets calls through. */
export function faultyD1(fault: Fault, matches: (call: D1Call) => boolean, times = 1): FaultyD1 {
  const calls: D1Call[] = [];
  let left = times;
  const inject = async <T>(call: D1Call, work: () => Promise<T>): Promise<T> => {
    calls.push(call);
    if (left <= 0 || !matches(call)) return work();
    left -= 1;
    if (fault.kind === 'hang') return new Promise<T>(() => {});
    if (fault.kind === 'fail') throw new Error(fault.message);
    await work();
    throw new Error(fault.message);
  };
  const db = interceptD1(inject);
  return { db, calls };
}

/** Calls whose SQL mentions `text` (a table, a clause). */
export function touching(text: string): (call: D1Call) => boolean {
  return (call) => call.sql.some((sql) => sql.includes(text));
}

/** A Durable Object error as the runtime raises it: with its `retryable` / `overloaded` flags. */
export function objectError(message: string, flags: { retryable?: boolean; overloaded?: boolean }): Error {
  return Object.assign(new Error(message), flags);
}

export interface FaultyNamespace {
  namespace: DurableObjectNamespace;
  /** How many RPC calls reached the wrapper. */
  calls: () => number;
}

/**
 * A Durable Object namespace whose stubs' RPC methods (and `fetch`) fail the first `times` calls with
 * `fault` ('hang': never answer), then reach the real object; with `onlyFor`, only the object of
 * that name fails.
 */
export function faultyNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  real: DurableObjectNamespace<T>,
  fault: Error | 'hang',
  times = Number.POSITIVE_INFINITY,
  onlyFor?: string,
): FaultyNamespace {
  let calls = 0;
  const names = new Map<string, string>();
  const namespace = {
    idFromName: (name: string) => {
      const id = real.idFromName(name);
      names.set(id.toString(), name);
      return id;
    },
    get: (id: DurableObjectId) => {
      const stub = real.get(id) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      const targeted = onlyFor === undefined || names.get(id.toString()) === onlyFor;
      return new Proxy(stub, {
        get(target, method) {
          const original = Reflect.get(target, method);
          if (!targeted || typeof original !== 'function' || typeof method !== 'string') return original;
          return async (...args: unknown[]) => {
            calls += 1;
            if (calls <= times) {
              if (fault === 'hang') return new Promise(() => {});
              throw fault;
            }
            return Reflect.apply(original, target, args);
          };
        },
      });
    },
  };
  // The members of DurableObjectNamespace the Worker uses (idFromName, get).
  return { namespace: namespace as unknown as DurableObjectNamespace, calls: () => calls };
}

/**
 * A Durable Object namespace whose stubs' RPC methods reach the real object and then lose the reply:
 * the first `times` calls (to the object named `onlyFor`, when given) do their work on the object and
 * then throw `fault`, as a call does whose object acted but whose answer never came back (the object
 * reset after it committed, the connection dropped). Later calls reach the object as usual.
 */
export function replyLosingNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  real: DurableObjectNamespace<T>,
  fault: Error,
  times = 1,
  onlyFor?: string,
): FaultyNamespace {
  let calls = 0;
  const names = new Map<string, string>();
  const namespace = {
    idFromName: (name: string) => {
      const id = real.idFromName(name);
      names.set(id.toString(), name);
      return id;
    },
    get: (id: DurableObjectId) => {
      const stub = real.get(id) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      const targeted = onlyFor === undefined || names.get(id.toString()) === onlyFor;
      return new Proxy(stub, {
        get(target, method) {
          const original = Reflect.get(target, method);
          if (!targeted || typeof original !== 'function' || typeof method !== 'string') return original;
          return async (...args: unknown[]) => {
            calls += 1;
            const result = await Reflect.apply(original, target, args);
            if (calls <= times) throw fault;
            return result;
          };
        },
      });
    },
  };
  // The members of DurableObjectNamespace the Worker uses (idFromName, get).
  return { namespace: namespace as unknown as DurableObjectNamespace, calls: () => calls };
}

export interface LateD1 extends FaultyD1 {
  /** Settles once the delayed call has reached the database: with its result, or its error. */
  landed: Promise<PromiseSettledResult<unknown>>;
}

/**
 * A D1 binding whose first call that `matches` picks reaches the real database only after `delayMs`:
 * a write that hangs past the caller's deadline and then lands anyway (the caller has answered by
 * then, and its client may already have repeated the request). Every other call goes straight through.
 */
export function lateD1(delayMs: number, matches: (call: D1Call) => boolean): LateD1 {
  const calls: D1Call[] = [];
  let delayed = false;
  let land: (outcome: PromiseSettledResult<unknown>) => void = () => {};
  const landed = new Promise<PromiseSettledResult<unknown>>((resolve) => {
    land = resolve;
  });
  const inject = <T>(call: D1Call, work: () => Promise<T>): Promise<T> => {
    calls.push(call);
    if (delayed || !matches(call)) return work();
    delayed = true;
    const late = new Promise<void>((resolve) => setTimeout(resolve, delayMs)).then(work);
    late.then(
      (value) => land({ status: 'fulfilled', value }),
      (reason: unknown) => land({ status: 'rejected', reason }),
    );
    return late;
  };
  const db = interceptD1(inject);
  return { db, calls, landed };
}
