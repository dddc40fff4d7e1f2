import { describe, expect, it } from 'vitest';
import { open, seal, storageKeyring } from '../../src/lib/encryption.ts';

const SECRET = 'a-storage-secret-of-at-least-32-bytes-0001';
const NEXT = 'a-storage-secret-of-at-least-32-bytes-0002';

describe('sealed storage values', () => {
  it('open what they sealed, and nothing of the plaintext shows in the sealed form', async () => {
    const keyring = await storageKeyring(SECRET, []);
    const plaintext = '{"secret":"sy_live_0123456789abcdefghijklmnopqrstuv"}';
    const sealed = await seal(keyring, plaintext, 'row-1');
    expect(sealed).toMatch(/^v1\.[0-9a-f]{16}\.[\w-]{16}\.[\w-]+$/);
    expect(sealed).not.toContain('sy_live_');
    expect(await open(keyring, sealed, 'row-1')).toBe(plaintext);
    expect(await open(keyring, await seal(keyring, '', 'row-1'), 'row-1')).toBe('');
  });

  it('use a fresh IV each time', async () => {
    const keyring = await storageKeyring(SECRET, []);
    expect(await seal(keyring, 'same', 'row')).not.toBe(await seal(keyring, 'same', 'row'));
  });

  it('do not open in another place, altered, truncated, or in another format', async () => {
    const keyring = await storageKeyring(SECRET, []);
    const sealed = await seal(keyring, 'the body', 'row-1');
    expect(await open(keyring, sealed, 'row-2')).toBeUndefined();
    const last = sealed.at(-1) === 'A' ? 'B' : 'A';
    expect(await open(keyring, `${sealed.slice(0, -1)}${last}`, 'row-1')).toBeUndefined();
    expect(await open(keyring, sealed.slice(0, -4), 'row-1')).toBeUndefined();
    expect(await open(keyring, 'the body', 'row-1')).toBeUndefined();
    expect(await open(keyring, sealed.replace(/^v1\./, 'v2.'), 'row-1')).toBeUndefined();
    expect(await open(keyring, `${sealed}.extra`, 'row-1')).toBeUndefined();
  });

  it('survive a rotation while the old secret is listed as previous, and only then', async () => {
    const before = await storageKeyring(SECRET, []);
    const sealed = await seal(before, 'kept', 'row');
    const rotating = await storageKeyring(NEXT, [SECRET]);
    expect(rotating.current.id).not.toBe(before.current.id);
    expect(await open(rotating, sealed, 'row')).toBe('kept');
    expect((await seal(rotating, 'new', 'row')).split('.')[1]).toBe(rotating.current.id);
    const rotated = await storageKeyring(NEXT, []);
    expect(await open(rotated, sealed, 'row')).toBeUndefined();
  });

  it('derive the same key id from the same secret', async () => {
    const first = await storageKeyring(SECRET, []);
    const again = await storageKeyring(SECRET, [NEXT]);
    expect(again.current.id).toBe(first.current.id);
  });
});
