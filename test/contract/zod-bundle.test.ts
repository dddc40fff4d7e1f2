/**
 * src/bundle/zod.ts is what `zod` resolves to in the Worker's bundle (and here): zod's own exports
 * less a list of members nothing uses. These tests hold it to exactly that list, and to zod's own
 * objects for everything else, so a zod upgrade that adds, renames or moves an export fails here.
 */
import { z as zodOpenApiZ } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
// The package itself, by path: the bare specifier `zod` resolves to the bundle module in this pool.
import * as published from '../../node_modules/zod/index.js';
import * as bundled from '../../src/bundle/zod.ts';

/** What src/bundle/zod.ts leaves out of `z`, and why (its module comment has the sizes). */
const LEFT_OUT_OF_Z = [
  // every language's messages; the English ones are installed by zod's schemas module itself
  'locales',
  // the schema compiler and its errors: validation runs zod's interpreter
  'compile',
  'withParser',
  'INVALID',
  'ZodCompileAsyncError',
  'ZodCompileUnsupportedError',
  // JSON Schema → zod; the spec goes the other way (zod-to-openapi)
  'fromJSONSchema',
].sort();

const LEFT_OUT_OF_CORE = [
  'locales',
  'compile',
  'compileFn',
  'withParser',
  'INVALID',
  'ZodCompileAsyncError',
  'ZodCompileUnsupportedError',
  'JSONSchemaGenerator',
].sort();

function missingFrom(lean: object, full: object): string[] {
  return Object.keys(full)
    .filter((name) => !(name in lean))
    .sort();
}

function differing(lean: Record<string, unknown>, full: Record<string, unknown>, skip: string[]): string[] {
  return Object.keys(lean).filter((name) => !skip.includes(name) && lean[name] !== full[name]);
}

describe('the bundled zod (src/bundle/zod.ts)', () => {
  it('leaves out of z exactly the listed members, and adds none', () => {
    expect(missingFrom(bundled.z, published.z)).toEqual(LEFT_OUT_OF_Z);
    expect(missingFrom(published.z, bundled.z)).toEqual([]);
  });

  it('leaves out of z.core exactly the listed members, and adds none', () => {
    expect(missingFrom(bundled.z.core, published.z.core)).toEqual(LEFT_OUT_OF_CORE);
    expect(missingFrom(published.z.core, bundled.z.core)).toEqual([]);
  });

  it("exports zod's own objects for every other member (one module instance, not a copy)", () => {
    // `core` is the lean namespace by design; every member of it is compared on the next line.
    expect(differing(bundled.z, published.z, ['core'])).toEqual([]);
    expect(differing(bundled.z.core, published.z.core, [])).toEqual([]);
    expect(bundled.default).toBe(bundled.z);
    expect(bundled.z.string).toBe(published.z.string);
  });

  it('is the zod that @hono/zod-openapi gets in this pool, as in the bundle', () => {
    expect('locales' in zodOpenApiZ).toBe(false);
    expect(zodOpenApiZ.string).toBe(published.z.string);
  });

  it('still reports in English, as zod does by default', () => {
    const result = bundled.z.string().min(3).safeParse('ab');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('Too small: expected string to have >=3 characters');
  });
});
