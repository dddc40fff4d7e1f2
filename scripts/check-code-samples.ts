/**
 * Type-checks every TypeScript `x-codeSamples` entry of openapi/openapi.json against the generated
 * client, as a user's project would compile it (strict, Node types, the package name resolved to
 * generated/): a sample that names a path, parameter or field the API does not have fails here,
 * not in a reader's editor. Part of `npm run typecheck`.
 *
 *   node scripts/check-code-samples.ts
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { CLIENT_PACKAGE, type CodeSample } from '../src/code-samples.ts';
import { ROOT } from './lib/local-worker.ts';

interface SpecOperation {
  operationId?: string;
  'x-codeSamples'?: CodeSample[];
}

const spec = JSON.parse(await readFile(join(ROOT, 'openapi', 'openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, SpecOperation>>;
};

const directory = await mkdtemp(join(tmpdir(), 'switchyard-code-samples-'));
try {
  const files = new Map<string, string>();
  const missing: string[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const samples = (operation['x-codeSamples'] ?? []).filter((sample) => sample.lang === 'typescript');
      if (samples.length === 0) missing.push(`${method.toUpperCase()} ${path}`);
      for (const [index, sample] of samples.entries()) {
        const file = join(directory, `${operation.operationId ?? `${method}-${index}`}-${index}.ts`);
        files.set(file, `${method.toUpperCase()} ${path}`);
        await writeFile(file, sample.source);
      }
    }
  }
  const program = ts.createProgram([...files.keys()], {
    strict: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules', '@types')],
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    paths: { [CLIENT_PACKAGE]: [join(ROOT, 'generated', 'dist', 'client.d.ts')] },
  });
  const errors = ts.getPreEmitDiagnostics(program).filter((diagnostic) => diagnostic.category === ts.DiagnosticCategory.Error);
  for (const diagnostic of errors) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const where = diagnostic.file
      ? `${files.get(diagnostic.file.fileName) ?? diagnostic.file.fileName}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1}`
      : 'samples';
    console.error(`${where}: ${message}`);
  }
  for (const operation of missing) console.error(`${operation}: no TypeScript x-codeSamples entry`);
  if (errors.length > 0 || missing.length > 0) {
    console.error(`code samples: ${errors.length} type errors, ${missing.length} operations without a sample`);
    process.exitCode = 1;
  } else {
    console.log(`code samples: all ${files.size} type-check against the package (generated/dist)`);
  }
} finally {
  await rm(directory, { recursive: true, force: true });
}
