/**
 * @module
 * A D1 binding that fails the ways Cloudflare documents D1 failing: the three transient errors
 * before the query runs, a query that answers nothing past every deadline, and a query that runs
 * (a write commits) whose reply is then lost. The Worker's guard (db/guarded-d1.ts) wraps this
 * binding as it wraps the real one, so what it retries, times out and breaks on is what production
 * would see.
 */
import { type Chaos, HANG_MS, sleep } from './faults.ts';

/** Messages as D1 raises them (the same texts test/helpers/faults.ts throws). */
const TRANSIENT_ERRORS = {
  'connection-lost': 'D1_ERROR: Network connection lost.',
  'object-reset': 'D1_ERROR: Internal error in D1 DB storage caused object to be reset.',
  'internal-error': 'D1_ERROR: internal error; reference = 0123456789abcdef',
} as const;

type TransientError = keyof typeof TRANSIENT_ERRORS;
type D1Fault = TransientError | 'hang' | 'lose-reply';

const D1_FAULTS: readonly D1Fault[] = ['connection-lost', 'object-reset', 'internal-error', 'hang', 'lose-reply'];
const TRANSIENT: readonly TransientError[] = ['connection-lost', 'object-reset', 'internal-error'];

async function withFault<T>(chaos: Chaos, sql: string, work: () => Promise<T>): Promise<T> {
  if (!chaos.strikes()) return work();
  const fault = chaos.pick(D1_FAULTS);
  chaos.injected('D1', fault, sql.slice(0, 80));
  switch (fault) {
    case 'hang':
      // Never reaches the database: the caller has timed out long before this fails.
      await sleep(HANG_MS);
      throw new Error(TRANSIENT_ERRORS['connection-lost']);
    case 'lose-reply': {
      await work();
      throw new Error(TRANSIENT_ERRORS[chaos.pick(TRANSIENT)]);
    }
    default:
      throw new Error(TRANSIENT_ERRORS[fault]);
  }
}

/** `target`'s prepare and batch (the binding's, or a session's) with faults injected. */
function chaoticQueries(target: Pick<D1Database, 'prepare' | 'batch'>, chaos: Chaos) {
  // The real statement behind each wrapped one, so a batch hands D1 statements it made.
  const realOf = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapped = {
      bind: (...values: unknown[]) => wrap(statement.bind(...values), sql),
      first: (column?: string) => withFault(chaos, sql, () => (column === undefined ? statement.first() : statement.first(column))),
      all: () => withFault(chaos, sql, () => statement.all()),
      run: () => withFault(chaos, sql, () => statement.run()),
      raw: (options?: { columnNames?: boolean }) =>
        withFault(chaos, sql, () => (options?.columnNames ? statement.raw({ columnNames: true }) : statement.raw())),
    };
    // Every method of D1PreparedStatement; its overloads cannot be spelled as one literal.
    const typed = wrapped as unknown as D1PreparedStatement;
    realOf.set(typed, statement);
    return typed;
  };
  return {
    prepare: (sql: string) => wrap(target.prepare(sql), sql),
    batch: <T>(statements: D1PreparedStatement[]) =>
      withFault(chaos, `batch of ${statements.length}`, () =>
        target.batch<T>(statements.map((statement) => realOf.get(statement) ?? statement)),
      ),
  };
}

/** `db` with faults injected into its queries and batches, and into those of its sessions (each request's D1). */
export function chaosD1(db: D1Database, chaos: Chaos): D1Database {
  const chaotic = {
    ...chaoticQueries(db, chaos),
    exec: (sql: string) => withFault(chaos, sql, () => db.exec(sql)),
    withSession: (constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint) => {
      const session = db.withSession(constraintOrBookmark);
      return { ...chaoticQueries(session, chaos), getBookmark: () => session.getBookmark() };
    },
    dump: () => db.dump(),
  };
  // The members of D1Database (a session's are prepare, batch and getBookmark).
  return chaotic as unknown as D1Database;
}
