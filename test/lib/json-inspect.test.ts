import { describe, expect, it } from 'vitest';
import { type JsonViolationKind, MAX_JSON_DEPTH, parseStrictJson } from '../../src/lib/json-inspect.ts';

function violation(text: string, maxDepth = MAX_JSON_DEPTH) {
  const parsed = parseStrictJson(text, maxDepth);
  return parsed.ok ? undefined : { kind: parsed.violation.kind, pointer: parsed.violation.pointer };
}

function refused(kind: JsonViolationKind, pointer: string) {
  return { kind, pointer };
}

describe('parseStrictJson', () => {
  it('runs on a V8 with String.prototype.isWellFormed', () => {
    expect(typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed).toBe('function');
  });

  it('returns the value JSON.parse gives', () => {
    const text = '{"a":[1,"two",{"b":null,"c":true}],"d":"\\u0041\\"\\\\","e":-1.5e3}';
    expect(parseStrictJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
    expect(parseStrictJson('"text"')).toEqual({ ok: true, value: 'text' });
    expect(parseStrictJson(' 42 ')).toEqual({ ok: true, value: 42 });
  });

  it('reports malformed JSON with the parser message', () => {
    const parsed = parseStrictJson('{"a":');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.violation).toMatchObject({ kind: 'malformed', pointer: '' });
  });

  it('counts containers: {} is depth 1', () => {
    expect(violation('{}', 1)).toBeUndefined();
    expect(violation('{"a":{}}', 1)).toEqual(refused('too_deep', '/a'));
    expect(violation('[[1]]', 2)).toBeUndefined();
    expect(violation('[[[1]]]', 2)).toEqual(refused('too_deep', '/0/0'));
    expect(violation('[0,[1,{"x":[]}]]', 3)).toEqual(refused('too_deep', '/1/1/x'));
    expect(violation('"text"', 0)).toBeUndefined();
    expect(violation('42', 0)).toBeUndefined();
  });

  it('stops at the limit however deep the document goes', () => {
    expect(violation(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toEqual(refused('too_deep', '/0'.repeat(MAX_JSON_DEPTH)));
  });

  it('finds NUL in values and keys, with an RFC 6901 pointer', () => {
    expect(violation(JSON.stringify({ 'a/b': { 'c~d': 'x\u0000' } }))).toEqual(refused('nul', '/a~1b/c~0d'));
    expect(violation('{"k\\u0000": 1}')).toEqual(refused('nul', '/k\u0000'));
    expect(violation('["ok", "n\\u0000"]')).toEqual(refused('nul', '/1'));
  });

  it('finds unpaired surrogates, escaped or raw, and lets pairs through', () => {
    expect(violation('["\\ud800"]')).toEqual(refused('unpaired_surrogate', '/0'));
    expect(violation('{"a":"\\udc00\\ud800"}')).toEqual(refused('unpaired_surrogate', '/a'));
    expect(violation('{"\\ud83d":1}')).toEqual(refused('unpaired_surrogate', '/\ud83d'));
    expect(violation('["\ud800"]')).toEqual(refused('unpaired_surrogate', '/0'));
    expect(violation('["\\ud83d\\ude00", "😀", "\\ud83d😀"]')).toEqual(refused('unpaired_surrogate', '/2'));
    expect(violation('["\\ud83d\\ude00", "😀"]')).toBeUndefined();
  });

  it('refuses __proto__ as a key, however written, and nothing else named like Object.prototype', () => {
    expect(violation('{"__proto__":1}')).toEqual(refused('reserved_key', '/__proto__'));
    expect(violation('{"a":[{"\\u005f\\u005fproto__":{}}]}')).toEqual(refused('reserved_key', '/a/0/__proto__'));
    expect(violation('{"a":"__proto__","constructor":{"prototype":{}},"toString":1,"__proto":1}')).toBeUndefined();
  });

  it('refuses a key repeated in one object, compared after decoding escapes', () => {
    expect(violation('{"a":1,"a":2}')).toEqual(refused('duplicate_key', '/a'));
    expect(violation('{"a":1,"\\u0061":2}')).toEqual(refused('duplicate_key', '/a'));
    expect(violation('{"x":{"a\\"b":1,"a\\u0022b":2}}')).toEqual(refused('duplicate_key', '/x/a"b'));
    expect(violation('{"":1,"":2}')).toEqual(refused('duplicate_key', '/'));
    expect(violation('[{"a":1},{"a":1,"b":{"a":1},"a":2}]')).toEqual(refused('duplicate_key', '/1/a'));
  });

  it('keys in different objects, and strings that look like keys, are no duplicates', () => {
    expect(violation('{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"c":"\\"a\\":","d":"\\\\","e":"}{,:[]"}')).toBeUndefined();
    expect(violation('{"a\\\\":1,"a":2,"\\\\a":3}')).toBeUndefined();
  });

  it('reports the first violation in document order', () => {
    expect(violation('{"a":{"b":1,"b":2},"__proto__":1}')).toEqual(refused('duplicate_key', '/a/b'));
    expect(violation('{"__proto__":"\\u0000","a":1,"a":1}')).toEqual(refused('reserved_key', '/__proto__'));
  });

  it('accepts whatever JSON.stringify makes of ordinary data, and returns it unchanged', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const pieces = ['a', 'é', '中', '😀', '"', '\\', '/', '~', '\n', '\u001f', '{', '}', '[', ']', ',', ':', ' '];
    const word = () => Array.from({ length: Math.floor(random() * 6) }, () => pieces[Math.floor(random() * pieces.length)]).join('');
    const value = (depth: number): unknown => {
      const pick = random();
      if (depth >= MAX_JSON_DEPTH - 1 || pick < 0.4) return [word(), 1.5, -3, true, false, null][Math.floor(random() * 6)];
      if (pick < 0.7) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 5) }, (_, index) => [`${word()}${index}`, value(depth + 1)]));
    };
    for (let round = 0; round < 300; round += 1) {
      const text = JSON.stringify(value(0), null, round % 3 === 0 ? 2 : undefined);
      expect(parseStrictJson(text), text).toEqual({ ok: true, value: JSON.parse(text) });
    }
  });
});
