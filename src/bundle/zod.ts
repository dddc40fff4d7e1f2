/**
 * @module
 * What the Worker's bundle gets for `import … from 'zod'` (wrangler.toml's `[alias]`, and the same
 * alias in vitest.config.ts, so the tests run this module too): zod's own entry point, minus members
 * neither the Worker nor its dependencies use.
 *
 * @hono/zod-openapi passes the whole `z` namespace to `extendZodWithOpenApi(z)`, so esbuild cannot
 * tell which members are used and keeps every one. Left out here:
 * - `locales` (of `z` and of `z.core`): every language's error messages, 260 KiB of a 800 KiB
 *   minified Worker. zod's classic schemas module installs the English ones itself
 *   (`config(en())`), not through these namespaces, and nothing here selects another language;
 * - the schema compiler (`compile`, `withParser`, `INVALID`, `ZodCompile*Error`), `fromJSONSchema`
 *   and `JSONSchemaGenerator`: 49 KiB more. Validation runs zod's interpreter, as it does without them.
 * Together: 200.6 → 148.4 KiB gzipped. test/contract/zod-bundle.test.ts holds every other export
 * equal to zod's own, so a zod upgrade that adds or moves one fails there instead of going missing.
 */
import * as z from './zod-classic.ts';

export * from './zod-classic.ts';
// biome-ignore lint/style/noDefaultExport: zod has one, and `import z from 'zod'` must keep working.
export { z, z as default };
