/**
 * The layers of src/, top to bottom; `npm run lint` refuses an import that points up, and any cycle.
 *
 *   index → scheduled → delivery → workflows → app → routes → openapi → workflow-starts → middleware → durable-objects → db → errors → context → schemas → versions → lib, env → bundle
 *
 * A module may import from its own layer and from any layer below it. `lib/` holds leaf helpers
 * that know nothing of the API; a cache backed by a table lives beside that table in `db/`.
 * Type-only imports count: a type pointing up is a design pointing up.
 *
 * Inside routes/, an operation file (`<verb>-<noun>.ts`, one operation each) is imported only by
 * routes/index.ts, which registers it: what two operations share lives in the resource's
 * `load.ts` / `present.ts` / `authorize.ts`, or in schemas/.
 *
 * src/chaos/ is a second entry above all of them (the fault-injecting build `npm run soak` runs,
 * `[env.chaos]` in wrangler.toml): it may import anything, and nothing else may import it, so no
 * fault injection can reach the production bundle (`npm run test:bundle` checks the bundle too).
 */
const LAYERS = [
  ['index', '^src/index\\.ts$'],
  ['scheduled', '^src/scheduled\\.ts$'],
  // Webhook delivery (the queue consumer and the sweep): it records what it did as the routes do.
  ['delivery', '^src/delivery/'],
  // The durable jobs (Workflows): the export reads through the routes' presenters, so the archive matches the API.
  ['workflows', '^src/workflows/(?!start-)'],
  ['app', '^src/app\\.ts$'],
  ['routes', '^src/routes/'],
  ['openapi', '^src/openapi\\.ts$'],
  // Starting a durable job (workflows/start-*.ts): what a route or the hourly run calls, below them.
  ['workflow-starts', '^src/workflows/start-'],
  ['middleware', '^src/middleware/'],
  ['durable-objects', '^src/durable-objects/'],
  ['db', '^src/db/'],
  ['errors', '^src/errors\\.ts$'],
  ['context', '^src/context\\.ts$'],
  ['schemas', '^src/schemas/'],
  // The dated API versions and their change modules: plain JSON transforms, knowing nothing of the API's code.
  ['versions', '^src/versions/'],
  ['lib', '^src/(lib/|env\\.ts$)'],
  // What a dependency resolves to in the bundle (wrangler.toml's [alias]): imported by no module of src/.
  ['bundle', '^src/bundle/'],
];

const upwardImports = LAYERS.flatMap(([layer, path], index) =>
  LAYERS.slice(0, index).map(([upper, upperPath]) => ({
    name: `${layer}-not-to-${upper}`,
    comment: `${layer} sits below ${upper}: it may not import it (see .dependency-cruiser.cjs for the order).`,
    severity: 'error',
    from: { path },
    to: { path: upperPath },
  })),
);

const CHAOS = '^src/chaos/';

const OPERATION_FILE = '^src/routes/[^/]+/(get|list|create|update|delete|rotate|revoke|connect|end|publish|resend|recover|test|erase)-[^/]+\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...upwardImports,
    {
      name: 'operation-files-stand-alone',
      comment: 'An operation file is imported only by routes/index.ts: move what it shares to load.ts, present.ts or schemas/.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/routes/index\\.ts$' },
      to: { path: OPERATION_FILE },
    },
    {
      name: 'chaos-stays-out-of-production',
      comment: 'Only src/chaos/ may import src/chaos/: anything else would put fault injection in the production bundle.',
      severity: 'error',
      from: { path: '^src/', pathNot: CHAOS },
      to: { path: CHAOS },
    },
    {
      name: 'no-circular',
      comment: 'Modules in a cycle cannot be layered.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'every-module-has-a-layer',
      comment: 'A module outside every layer above escapes the check: give it one.',
      severity: 'error',
      from: { path: '^src/', pathNot: [CHAOS, ...LAYERS.map(([, path]) => path)].map((path) => `(${path})`).join('|') },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
