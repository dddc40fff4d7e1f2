/**
 * @module
 * Bounding how long we wait on a dependency.
 */

export class TimeoutError extends Error {
  constructor(label: string, milliseconds: number) {
    super(`${label} did not answer within ${milliseconds} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Settles like `work`, or rejects with {@link TimeoutError} after `milliseconds`. The work itself is
 * not cancelled (D1 has no cancellation); its late result is ignored.
 */
export async function withTimeout<T>(work: Promise<T>, milliseconds: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(label, milliseconds)), milliseconds);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}
