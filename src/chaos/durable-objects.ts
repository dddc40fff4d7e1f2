/**
 * @module
 * A Durable Object namespace whose stubs fail before the call reaches the object: an error the
 * runtime marks `.retryable` (the ones it raises when an object is reset or the connection to it
 * drops), or no answer past every deadline. RPC methods (`publish`, `lease` …) and `fetch` (the
 * WebSocket upgrade) alike: a client whose connect fails connects again, with `last_seq`.
 *
 * Faults never reach the object, so a failed call has had no effect. A call that ran and whose
 * reply was lost is not injected: for a publish the Worker can only answer that the message "may
 * have been sent", and a retry sends it again (the room does not deduplicate): the soak would count
 * that duplicate by construction.
 */
import { type Chaos, type Dependency, HANG_MS, sleep } from './faults.ts';

/** Texts the runtime gives errors it flags `retryable`. */
const RETRYABLE_MESSAGES = [
  'Network connection lost.',
  'Durable Object reset because its code was updated.',
  'Durable Object storage operation exceeded timeout which caused object to be reset.',
] as const;

type ObjectFault = 'retryable-error' | 'hang';
const OBJECT_FAULTS: readonly ObjectFault[] = ['retryable-error', 'hang'];

function retryableError(chaos: Chaos): Error {
  return Object.assign(new Error(chaos.pick(RETRYABLE_MESSAGES)), { retryable: true });
}

function chaosStub<T extends object>(stub: T, chaos: Chaos, dependency: Dependency): T {
  return new Proxy(stub, {
    get(target, property) {
      const original: unknown = Reflect.get(target, property);
      if (typeof original !== 'function' || typeof property !== 'string') return original;
      return async (...args: unknown[]) => {
        if (chaos.strikes()) {
          const fault = chaos.pick(OBJECT_FAULTS);
          chaos.injected(dependency, fault, property);
          if (fault === 'hang') await sleep(HANG_MS);
          throw retryableError(chaos);
        }
        return Reflect.apply(original, target, args);
      };
    },
  });
}

/** `namespace` with faults injected into every call its stubs make. */
export function chaosNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  chaos: Chaos,
  dependency: Dependency,
): DurableObjectNamespace<T> {
  return new Proxy(namespace, {
    get(target, property) {
      const original: unknown = Reflect.get(target, property);
      if (typeof original !== 'function') return original;
      if (property === 'get' || property === 'getByName') {
        return (...args: unknown[]) => chaosStub(Reflect.apply(original, target, args) as object, chaos, dependency);
      }
      // The namespace's own methods need the real binding as `this`.
      return (...args: unknown[]) => Reflect.apply(original, target, args);
    },
  });
}
