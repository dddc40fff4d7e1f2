import { describe, expect, it } from 'vitest';
import { backoffDelay, CircuitOpenError, type CircuitState, createBreaker, guardedCall, TimeoutError } from '../../src/lib/resilience.ts';

describe('circuit breaker', () => {
  function breaker() {
    const transitions: Array<[CircuitState, CircuitState]> = [];
    const circuit = createBreaker('dep', {
      failureThreshold: 3,
      openMs: 1_000,
      onStateChange: (_, from, to) => transitions.push([from, to]),
    });
    return { circuit, transitions };
  }

  it('opens after the threshold of consecutive failures; a success in between resets the count', () => {
    const { circuit } = breaker();
    circuit.failed(0);
    circuit.failed(0);
    circuit.succeeded();
    circuit.failed(0);
    circuit.failed(0);
    expect(circuit.state(0)).toBe('closed');
    circuit.failed(0);
    expect(circuit.state(0)).toBe('open');
    expect(() => circuit.admit(400)).toThrow(CircuitOpenError);
  });

  it('after openMs lets exactly one probe through and fails the others fast; the probe decides', () => {
    const { circuit, transitions } = breaker();
    for (let failure = 0; failure < 3; failure += 1) circuit.failed(0);
    circuit.admit(1_000);
    expect(circuit.state(1_000)).toBe('half-open');
    let refused: unknown;
    try {
      circuit.admit(1_001);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(CircuitOpenError);
    circuit.failed(1_002);
    expect(circuit.state(1_500)).toBe('open');
    circuit.admit(2_002);
    circuit.succeeded();
    expect(circuit.state(2_003)).toBe('closed');
    // One log line per transition, not per call.
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
  });
});

describe('backoff', () => {
  it('is full jitter: below min(max, base · 2^(retry − 1)), down to 0', () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 300 };
    expect(backoffDelay(policy, 1, () => 0.999)).toBe(99);
    expect(backoffDelay(policy, 2, () => 0.999)).toBe(199);
    expect(backoffDelay(policy, 4, () => 0.999)).toBe(299);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
  });
});

describe('guardedCall', () => {
  const options = (isTransient: (error: unknown) => boolean, attempts = 3, budgetMs = 1_000) => ({
    label: 'dep',
    timeoutMs: 100,
    budgetMs,
    retry: { attempts, baseDelayMs: 1, maxDelayMs: 2 },
    isTransient,
    breaker: createBreaker('dep', { failureThreshold: 100, openMs: 1_000 }),
  });

  it('repeats a transient failure up to its attempts, and not another', async () => {
    let calls = 0;
    const flaky = async () => {
      calls += 1;
      if (calls < 3) throw new Error('transient');
      return 'ok';
    };
    expect(
      await guardedCall(
        flaky,
        options((error) => (error as Error).message === 'transient'),
      ),
    ).toBe('ok');
    expect(calls).toBe(3);
    calls = 0;
    const constraint = async () => {
      calls += 1;
      throw new Error('UNIQUE constraint failed');
    };
    await expect(
      guardedCall(
        constraint,
        options(() => false),
      ),
    ).rejects.toThrow('UNIQUE');
    expect(calls).toBe(1);
  });

  it('gives a hung call its timeout, and all attempts no more than the budget', async () => {
    const started = Date.now();
    await expect(
      guardedCall(
        () => new Promise(() => {}),
        options(() => false, 10, 250),
      ),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(400);
  });
});

describe('guardedCall inside a request deadline', () => {
  const guarded = (deadlineAt: number, breaker = createBreaker('dep', { failureThreshold: 1, openMs: 1_000 })) => ({
    label: 'dep',
    timeoutMs: 1_000,
    budgetMs: 5_000,
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    isTransient: () => true,
    breaker,
    deadlineAt,
  });

  it('stops waiting at the deadline, well before its own timeout', async () => {
    const started = Date.now();
    await expect(guardedCall(() => new Promise(() => {}), guarded(started + 60))).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('past the deadline, does not call at all and does not blame the dependency', async () => {
    const breaker = createBreaker('dep', { failureThreshold: 1, openMs: 1_000 });
    let calls = 0;
    await expect(
      guardedCall(
        async () => {
          calls += 1;
          return 'late';
        },
        guarded(Date.now() - 1, breaker),
      ),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(calls).toBe(0);
    expect(breaker.state()).toBe('closed');
  });
});
