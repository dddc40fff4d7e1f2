/**
 * @module
 * A TypeScript sample for every operation (`x-codeSamples`), written with the published client
 * package, so the reference shows how to call each operation through it beside Scalar's own curl
 * and fetch snippets. Derived from the finished document (paths, parameter and body examples,
 * response schemas), never written per route, so a new operation gets its sample and a changed
 * example changes the sample. `node scripts/check-code-samples.ts` (in `npm run typecheck`)
 * type-checks every sample against the generated client.
 */

/** The name the client package is published under (generated/package.json). */
export const CLIENT_PACKAGE = '@switchyard/client';

export interface CodeSample {
  lang: string;
  label: string;
  source: string;
}

type JsonObject = { [key: string]: unknown };

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  example?: unknown;
  schema?: { example?: unknown };
}

interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: unknown; example?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  'x-websocket'?: unknown;
  'x-codeSamples'?: CodeSample[];
}

interface Document {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonObject> };
}

const HTTP_METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A value as a one-line TypeScript literal, in the repository's style (single quotes, bare keys). */
function literal(value: unknown): string {
  if (typeof value === 'string') return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([key, item]) => `${IDENTIFIER.test(key) ? key : literal(key)}: ${literal(item)}`);
    return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
  }
  return JSON.stringify(value);
}

function componentName(schema: unknown): string | undefined {
  const ref = (schema as { $ref?: unknown } | undefined)?.$ref;
  return typeof ref === 'string' ? ref.replace('#/components/schemas/', '') : undefined;
}

/**
 * The body the sample sends: the operation's own example when it gives one (the reference
 * pre-fills the same one), otherwise its schema's required fields with their examples.
 */
function bodyExample(document: Document, operation: Operation): unknown {
  const media = operation.requestBody?.content?.['application/json'];
  if (media === undefined) return undefined;
  if (media.example !== undefined) return media.example;
  const name = componentName(media.schema);
  const schema = name === undefined ? (media.schema as JsonObject | undefined) : document.components?.schemas?.[name];
  const properties = (schema?.properties ?? {}) as Record<string, { example?: unknown }>;
  const required = (schema?.required ?? []) as string[];
  return Object.fromEntries(required.map((field) => [field, properties[field]?.example]));
}

function parameterExample(parameter: Parameter): unknown {
  return parameter.example ?? parameter.schema?.example;
}

/** `{ params: { path: …, query: … }, body: … }` for the required parameters and the body, or nothing. */
function init(document: Document, operation: Operation, extraQuery: JsonObject = {}): string {
  const params: JsonObject = {};
  for (const place of ['path', 'query', 'header'] as const) {
    const values: JsonObject = Object.fromEntries(
      (operation.parameters ?? [])
        .filter((parameter) => parameter.in === place && parameter.required)
        .map((parameter) => [parameter.name, parameterExample(parameter)]),
    );
    if (place === 'query') Object.assign(values, extraQuery);
    if (Object.keys(values).length > 0) params[place] = values;
  }
  const options: JsonObject = {};
  if (Object.keys(params).length > 0) options.params = params;
  const body = bodyExample(document, operation);
  if (body !== undefined) options.body = body;
  return Object.keys(options).length === 0 ? '' : `, ${literal(options)}`;
}

function successSchema(operation: Operation): string | undefined {
  const [, success] = Object.entries(operation.responses ?? {}).find(([status]) => status.startsWith('2')) ?? [];
  return componentName(success?.content?.['application/json']?.schema);
}

/** A list operation: its page has `data` and `next_cursor`, so `paginate` walks it. */
function isCursorList(document: Document, operation: Operation): boolean {
  const name = successSchema(operation);
  const properties = name === undefined ? undefined : (document.components?.schemas?.[name]?.properties as JsonObject | undefined);
  return properties !== undefined && 'data' in properties && 'next_cursor' in properties;
}

function variableName(schemaName: string): string {
  return schemaName.charAt(0).toLowerCase() + schemaName.slice(1);
}

function clientSetup(names: string[]): string[] {
  return [
    `import { ${names.join(', ')} } from '${CLIENT_PACKAGE}';`,
    '',
    "// The API's base URL and an API key (`npm start` prints both for a local Worker).",
    "const baseUrl = process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:8787';",
    'const switchyard = createSwitchyardClient({ baseUrl, apiKey: process.env.SWITCHYARD_API_KEY });',
    '',
  ];
}

function socketSample(document: Document, path: string): string {
  const tokenPath = path.replace(/\/connect$/, '/tokens');
  const tokenOperation = document.paths?.[tokenPath]?.post;
  if (tokenOperation === undefined) throw new Error(`x-codeSamples: no POST ${tokenPath} to mint the connect token of ${path} with`);
  const sessionId = (tokenOperation.parameters ?? []).find((parameter) => parameter.in === 'path' && parameter.name === 'id');
  return [
    ...clientSetup(['connectSession', 'createSwitchyardClient', 'unwrap']),
    `const sessionId = ${literal(sessionId === undefined ? undefined : parameterExample(sessionId))};`,
    '// Reconnects with a fresh token, resumes after the last message processed and fills gaps from history.',
    'const connection = connectSession({',
    '  baseUrl,',
    '  sessionId,',
    '  api: switchyard,',
    `  getToken: async () => unwrap(await switchyard.POST('${tokenPath}'${init(document, tokenOperation)})).token,`,
    '  onMessage: (message) => console.log(message.seq, message.sender, message.payload),',
    '});',
    "const { seq } = await connection.send({ text: 'hello' });",
    'console.log(seq);',
    "await connection.close(1000, 'done');",
    '',
  ].join('\n');
}

function operationSample(document: Document, method: string, path: string, operation: Operation): string {
  const call = method.toUpperCase();
  if (isCursorList(document, operation)) {
    return [
      ...clientSetup(['createSwitchyardClient', 'paginate']),
      '// Every page in turn: paginate follows `next_cursor`.',
      `for await (const item of paginate(switchyard, '${path}'${init(document, operation, { limit: 100 })})) {`,
      '  console.log(item);',
      '}',
      '',
    ].join('\n');
  }
  const schemaName = successSchema(operation);
  const request = `unwrap(await switchyard.${call}('${path}'${init(document, operation)}))`;
  return [
    ...clientSetup(['createSwitchyardClient', 'unwrap']),
    '// unwrap returns the data, or throws a SwitchyardApiError carrying the problem.',
    ...(schemaName === undefined
      ? [`${request};`]
      : [`const ${variableName(schemaName)} = ${request};`, `console.log(${variableName(schemaName)});`]),
    '',
  ].join('\n');
}

/**
 * Adds a TypeScript `x-codeSamples` entry to every operation of the document, in place. Takes the
 * generator's document as it is: its types allow `$ref`s where this reads only what
 * `getOpenAPI31Document` writes inline (parameters, bodies and responses of the route definitions).
 */
export function addCodeSamples(openApiDocument: object): void {
  const document = openApiDocument as Document;
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) {
      if (!HTTP_METHODS.has(method)) continue;
      const source =
        operation['x-websocket'] === undefined ? operationSample(document, method, path, operation) : socketSample(document, path);
      operation['x-codeSamples'] = [{ lang: 'typescript', label: `TypeScript (${CLIENT_PACKAGE})`, source }];
    }
  }
}
