/**
 * The signed bookmark tokens (src/lib/bookmark-token.ts): a token opens to the bookmark it was made
 * for under the secret that made it or one still listed after it, in the one spelling it was
 * written, and not otherwise; tokens sort as the bookmarks they carry.
 */
import { describe, expect, it } from 'vitest';
import { BOOKMARK_TOKEN_PATTERN, bookmarkKeyring, openBookmark, signBookmark } from '../../src/lib/bookmark-token.ts';

const SECRET = 'bookmark-token-test-secret-0123456789abcdef';
const NEXT_SECRET = 'bookmark-token-test-next-secret-0123456789abcdef';
const BOOKMARK = '00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683';

async function tokenFor(bookmark: string, secret = SECRET): Promise<string> {
  const token = await signBookmark(await bookmarkKeyring(secret, []), bookmark);
  if (token === undefined) throw new Error(`${bookmark} was not signed`);
  return token;
}

describe('a bookmark token', () => {
  it('is the bookmark, a dot and a 43-character MAC, and opens to the bookmark', async () => {
    const token = await tokenFor(BOOKMARK);
    expect(token).toMatch(BOOKMARK_TOKEN_PATTERN);
    expect(token.startsWith(`${BOOKMARK}.`)).toBe(true);
    expect(await openBookmark(await bookmarkKeyring(SECRET, []), token)).toBe(BOOKMARK);
  });

  it('opens under a later keyring that lists its secret as previous, and under no other', async () => {
    const token = await tokenFor(BOOKMARK);
    expect(await openBookmark(await bookmarkKeyring(NEXT_SECRET, [SECRET]), token)).toBe(BOOKMARK);
    expect(await openBookmark(await bookmarkKeyring(NEXT_SECRET, []), token)).toBeUndefined();
  });

  it('does not open in another spelling of the same MAC bytes (the last character’s spare bits set)', async () => {
    const token = await tokenFor(BOOKMARK);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 43 characters carry 258 bits for 256: the last character's value must be a multiple of 4.
    const last = alphabet.indexOf(token.slice(-1));
    const respelled = `${token.slice(0, -1)}${alphabet[last + 1]}`;
    expect(await openBookmark(await bookmarkKeyring(SECRET, []), respelled)).toBeUndefined();
  });

  it('is made only for a bookmark of the form D1 writes, up to 128 characters', async () => {
    const keyring = await bookmarkKeyring(SECRET, []);
    expect(await signBookmark(keyring, '0'.repeat(128))).toMatch(BOOKMARK_TOKEN_PATTERN);
    expect(await signBookmark(keyring, '0'.repeat(129))).toBeUndefined();
    expect(await signBookmark(keyring, '')).toBeUndefined();
    expect(await signBookmark(keyring, 'with.dot')).toBeUndefined();
  });

  it('sorts as the bookmarks do: oldest first, by plain string comparison', async () => {
    const bookmarks = [
      '00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683',
      '00000085-0000024d-00000000-00000000000000000000000000000000',
    ];
    const [older, newer] = await Promise.all(bookmarks.map((bookmark) => tokenFor(bookmark)));
    expect(older !== undefined && newer !== undefined && older < newer).toBe(true);
  });
});
