/**
 * @module
 * `zod/v4/core` as zod publishes it, minus `locales`, the schema compiler and `JSONSchemaGenerator`
 * (see ./zod.ts for why): the other lines of node_modules/zod/v4/core/index.js, in its order, which
 * is its modules' evaluation order.
 */
// biome-ignore-all assist/source/organizeImports: the order is zod's own module evaluation order.
export * from '../../node_modules/zod/v4/core/core.js';
export * from '../../node_modules/zod/v4/core/parse.js';
export * from '../../node_modules/zod/v4/core/errors.js';
export * from '../../node_modules/zod/v4/core/schemas.js';
export * from '../../node_modules/zod/v4/core/memoizer.js';
export * from '../../node_modules/zod/v4/core/checks.js';
export * from '../../node_modules/zod/v4/core/versions.js';
export * as util from '../../node_modules/zod/v4/core/util.js';
export { toZod } from '../../node_modules/zod/v4/core/util.js';
export * as regexes from '../../node_modules/zod/v4/core/regexes.js';
export * from '../../node_modules/zod/v4/core/registries.js';
export * from '../../node_modules/zod/v4/core/doc.js';
export * from '../../node_modules/zod/v4/core/api.js';
export * from '../../node_modules/zod/v4/core/to-json-schema.js';
export { toJSONSchema } from '../../node_modules/zod/v4/core/json-schema-processors.js';
export * as JSONSchema from '../../node_modules/zod/v4/core/json-schema.js';
