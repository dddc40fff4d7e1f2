/**
 * generated/ as the npm package @switchyard/client: its package.json, its README, and the ESM
 * JavaScript and declarations compiled from generated/api.ts and generated/client.ts into
 * generated/dist/. Called by scripts/emit-spec.ts with the texts it is about to write, so that
 * `npm run spec:check` compiles the fresh sources, never a stale copy on disk; the result is
 * deterministic (the same sources give byte-identical files).
 *
 * Why compiled JavaScript rather than the .ts sources: Node refuses to strip types from files under
 * node_modules, and bundlers and older TypeScript setups expect .js with .d.ts beside it.
 */
import { join, relative } from 'node:path';
import ts from 'typescript';
import { CLIENT_PACKAGE } from '../../src/code-samples.ts';

/** The generated sources the package is compiled from, as emit-spec is about to write them. */
export interface ClientPackageSources {
  /** generated/api.ts: the openapi-typescript types. */
  api: string;
  /** generated/client.ts: the client, from scripts/client-template.ts. */
  client: string;
  /** The API document's info.version: the client was generated from it, so the package carries it. */
  version: string;
  /** The exact openapi-fetch the repository's own tests run the client with (root package.json). */
  openapiFetchVersion: string;
  /** The package's README, as it ships (emit-spec adds its "Generated" line to scripts/client-readme.md). */
  readme: string;
  /** The "Generated" line every generated source opens with. */
  header: string;
  /** src/lib/webhook-signature.ts: the signing the Worker does, shipped for receivers to verify with. */
  webhookSignature: string;
  /** src/lib/http-signature.ts: request signing (RFC 9421), which the client's `signing` option uses. */
  httpSignature: string;
}

/**
 * What `@switchyard/client/socket` offers: the session socket, apart from the HTTP client. A
 * re-export of the one compiled client module rather than a module of its own, so that a class
 * imported from either entry is the same class (`instanceof SessionClosedError` holds whichever
 * entry it came from); `sideEffects: false` lets a bundler drop what a socket-only app leaves
 * unused. A name removed from the template fails the compile here; a new one must be added here to
 * appear in this entry (it is always in the main one).
 */
const SOCKET_VALUES = [
  'connectSession',
  'webSocketTransport',
  'fetchUpgradeTransport',
  'openSessionSocket',
  'sessionSocketUrl',
  'sessionSocketProtocols',
  'SessionClosedError',
  'SessionSendError',
];
const SOCKET_TYPES = [
  'ConnectSessionOptions',
  'SessionConnection',
  'SessionState',
  'SessionCloseEvent',
  'SessionMessage',
  'SessionTiming',
  'BackoffPolicy',
  'SeqRange',
  'Published',
  'ServerFrame',
  'ClientFrame',
  'MessageFrame',
  'PresenceFrame',
  'SessionSocketAddress',
  'SessionSocketOptions',
  'SessionTransport',
  'TransportSocket',
  'TransportHandlers',
  'TransportCloseEvent',
];

/**
 * How the package is compiled, in tsconfig terms. ES2022 modules with Bundler resolution rather
 * than NodeNext: NodeNext would decide each file's module format from generated/package.json on
 * disk, which may be the stale one this run is replacing. The output is valid for Node anyway, its
 * relative imports naming `.js` files (see {@link withJsSpecifiers}). The DOM lib and no `types`:
 * the declarations name only web-standard globals (fetch, Request, WebSocket…), which Node's
 * @types/node and every browser setup provide, and nothing of Node or the Workers runtime. Comments
 * are kept: they are the JSDoc an editor shows. newLine is fixed for byte-identical output anywhere.
 */
const COMPILER_OPTIONS = {
  target: 'ES2022',
  module: 'ES2022',
  moduleResolution: 'Bundler',
  lib: ['ES2022', 'DOM'],
  types: [],
  strict: true,
  noUncheckedIndexedAccess: true,
  declaration: true,
  verbatimModuleSyntax: true,
  skipLibCheck: true,
  noEmitOnError: true,
  newLine: 'lf',
};

/** The package's files, as [path from the repository root, text] pairs. */
export function clientPackageFiles(root: string, sources: ClientPackageSources): Array<[string, string]> {
  const directory = join(root, 'generated');
  const compiled = compile(directory, {
    'api.ts': sources.api,
    'client.ts': withJsSpecifiers(sources.client),
    'socket.ts': socketEntry(sources.header),
    'webhook-signature.ts': sources.header + sources.webhookSignature,
    'http-signature.ts': sources.header + sources.httpSignature,
    'webhooks.ts': webhooksEntry(sources.header),
  });
  return [
    ['generated/package.json', packageJson(sources)],
    ['generated/README.md', sources.readme],
    // The compiler keeps a file's opening comment in some outputs and not others (declarations, an
    // emptied api.js): each says it is generated, as the sources do.
    ...compiled.map(([file, text]): [string, string] => [
      relative(root, file),
      text.startsWith(sources.header) ? text : sources.header + text,
    ]),
  ];
}

/**
 * The sources import each other as `./api.ts` (what Node's type stripping runs in the repository);
 * the package imports `./api.js`, which Bundler resolution maps back to the .ts while compiling.
 * Rewritten before compiling rather than by rewriteRelativeImportExtensions, which rewrites the
 * JavaScript but leaves `.ts` in the declarations, where a consumer's TypeScript refuses it.
 */
function withJsSpecifiers(source: string): string {
  return source.replace(/( from '\.\/[\w-]+)\.ts';/g, "$1.js';");
}

function socketEntry(header: string): string {
  return [
    header.trimEnd(),
    '// The session socket entry of @switchyard/client (scripts/lib/client-package.ts): a re-export of the client.',
    `export { ${SOCKET_VALUES.join(', ')} } from './client.js';`,
    `export type { ${SOCKET_TYPES.join(', ')} } from './client.js';`,
    '',
  ].join('\n');
}

/**
 * `@switchyard/client/webhooks`: the Worker's own signature code (src/lib/webhook-signature.ts,
 * compiled as it is), with `verifyWebhook` returning the event as the spec's `webhooks` section
 * types it, so a receiver narrows on `event.type`.
 */
function webhooksEntry(header: string): string {
  return [
    header.trimEnd(),
    '// The webhook entry of @switchyard/client (scripts/lib/client-package.ts): verification of signed deliveries.',
    "import type { components } from './api.js';",
    "import { type VerifyWebhookOptions, verifyWebhook as verifySignedBody } from './webhook-signature.js';",
    '',
    "export { signWebhook, WEBHOOK_TOLERANCE_SECONDS, WebhookVerificationError } from './webhook-signature.js';",
    "export type { VerifyWebhookOptions, WebhookVerificationFailure } from './webhook-signature.js';",
    '',
    "/** Every event a webhook delivers, as the spec's `webhooks` section declares it. */",
    "export type WebhookEvent = components['schemas']['Event'];",
    '',
    '/**',
    ' * Checks that `body` (the raw request body, exactly as received) was signed with one of `secrets`',
    ' * within the last five minutes, and returns its event; throws a WebhookVerificationError naming',
    ' * the reason otherwise. During a rotation, give both the current and the previous secret.',
    ' */',
    'export function verifyWebhook(',
    '  body: string,',
    '  headers: Headers | Record<string, string | string[] | undefined>,',
    '  secrets: string | readonly string[],',
    '  options?: VerifyWebhookOptions,',
    '): Promise<WebhookEvent> {',
    '  return verifySignedBody<WebhookEvent>(body, headers, secrets, options);',
    '}',
    '',
  ].join('\n');
}

function packageJson(sources: ClientPackageSources): string {
  const entry = (name: string) => ({ types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` });
  const manifest = {
    name: CLIENT_PACKAGE,
    version: sources.version,
    description:
      'Typed client for the Switchyard API: HTTP calls checked against its OpenAPI document, the realtime session socket, and webhook verification.',
    license: 'MIT',
    type: 'module',
    sideEffects: false,
    // `types` first in each condition map: TypeScript takes the first condition that matches.
    exports: {
      '.': entry('client'),
      './types': entry('api'),
      './socket': entry('socket'),
      './webhooks': entry('webhooks'),
      './package.json': './package.json',
    },
    // For tools that predate `exports` (TypeScript's node10 resolution, old bundlers).
    main: './dist/client.js',
    types: './dist/client.d.ts',
    // npm adds package.json and README.md on its own; nothing else of generated/ (the .ts sources) ships.
    files: ['dist'],
    // What it is tested on (scripts/check-package.ts); the platform WebSocket is global from Node 22.
    engines: { node: '>=22' },
    // The one runtime dependency, pinned to the version the repository's tests run the client with.
    dependencies: { 'openapi-fetch': sources.openapiFetchVersion },
    // A scoped package is published restricted unless told otherwise.
    publishConfig: { access: 'public' },
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Compiles the in-memory sources (file name → text, all in `directory`) into `directory`/dist. */
function compile(directory: string, sources: Record<string, string>): Array<[string, string]> {
  const { options, errors } = ts.convertCompilerOptionsFromJson({ ...COMPILER_OPTIONS, rootDir: '.', outDir: 'dist' }, directory);
  if (errors.length > 0) throw new Error(`client package compiler options: ${format(errors)}`);
  const inputs = new Map(Object.entries(sources).map(([name, text]) => [join(directory, name), text]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  // The sources come from memory; everything else (lib files, openapi-fetch's types) from disk.
  host.fileExists = (file) => inputs.has(file) || fileExists.call(host, file);
  host.readFile = (file) => inputs.get(file) ?? readFile.call(host, file);
  host.getSourceFile = (file, language, onError, shouldCreate) => {
    const text = inputs.get(file);
    return text === undefined ? getSourceFile.call(host, file, language, onError, shouldCreate) : ts.createSourceFile(file, text, language);
  };
  const outputs = new Map<string, string>();
  host.writeFile = (file, text) => outputs.set(file, text);
  // With noEmitOnError, emit() type-checks first and reports what it found instead of emitting.
  const result = ts.createProgram([...inputs.keys()], options, host).emit();
  if (result.emitSkipped || result.diagnostics.length > 0) {
    throw new Error(`the client package does not compile:\n${format(result.diagnostics)}`);
  }
  return [...outputs];
}

function format(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (file) => file,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => '\n',
  });
}
