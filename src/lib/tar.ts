/**
 * @module
 * POSIX tar (ustar) headers, for an archive streamed from parts whose sizes are known before the
 * first byte is sent: a header block per file, its bytes, zero padding to the next 512-byte block,
 * and two zero blocks at the end. Written here rather than with a tar library because the data
 * must pass through untouched: each file's bytes are piped from storage as they are, never copied
 * through JavaScript, and the whole archive's length is known up front (a `Content-Length`).
 * The tests read what this writes with an independent tar reader (modern-tar) and `tar` itself.
 */

export const TAR_BLOCK_BYTES = 512;
const NAME_BYTES = 100;
/** 11 octal digits: the largest size a plain ustar header can state (8 GiB less a byte). */
const MAX_FILE_BYTES = 8 ** 11 - 1;

function writeText(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > length) throw new Error(`tar: "${text}" does not fit in ${length} bytes`);
  block.set(bytes, offset);
}

/** A number as ustar writes it: zero-padded octal digits and a NUL, filling the field. */
function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  writeText(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** The 512-byte header of a regular file (mode 0644, owner 0). */
export function tarHeader(name: string, size: number, modifiedAt: Date): Uint8Array {
  if (new TextEncoder().encode(name).length > NAME_BYTES) throw new Error(`tar: the name ${name} is over ${NAME_BYTES} bytes`);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_FILE_BYTES) throw new Error(`tar: ${name} is too large (${size} bytes)`);
  const block = new Uint8Array(TAR_BLOCK_BYTES);
  writeText(block, 0, NAME_BYTES, name);
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.floor(modifiedAt.getTime() / 1000));
  writeText(block, 156, 1, '0');
  writeText(block, 257, 6, 'ustar\0');
  writeText(block, 263, 2, '00');
  // The checksum is the sum of the header's bytes with its own field read as eight spaces.
  writeText(block, 148, 8, '        ');
  const checksum = block.reduce((sum, byte) => sum + byte, 0);
  writeText(block, 148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** The zero bytes that follow a file of `size` bytes, up to the next block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((TAR_BLOCK_BYTES - (size % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES);
}

/** What ends an archive: two zero blocks. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * TAR_BLOCK_BYTES);
}

/** The length of an archive of files of these sizes: headers, data, padding and the end. */
export function tarLength(sizes: readonly number[]): number {
  return sizes.reduce((total, size) => total + TAR_BLOCK_BYTES + size + tarPadding(size).length, 2 * TAR_BLOCK_BYTES);
}
