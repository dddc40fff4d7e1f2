import { describe, expect, it } from 'vitest';
import { continueOrStartTrace, formatTraceparent, parseTraceparent } from '../../src/lib/trace-context.ts';

describe('traceparent parsing', () => {
  it('accepts a valid version-00 header', () => {
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      flags: '01',
    });
  });

  it('accepts a future version with extra fields, as the spec requires', () => {
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')?.traceId).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  it.each([
    undefined,
    '',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
    '00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  ])('refuses %s', (header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it('a new trace has random non-zero ids and round-trips through format', () => {
    const started = continueOrStartTrace(undefined);
    const formatted = formatTraceparent(started);
    expect(parseTraceparent(formatted)).toEqual(started);
    expect(continueOrStartTrace(undefined).traceId).not.toBe(started.traceId);
  });
});
