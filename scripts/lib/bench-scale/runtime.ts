/**
 * The one Worker the scale curves measure: Switchyard as it ships (the production build of
 * wrangler.toml, production settings), in its own Miniflare/workerd process on a direct socket, as
 * `npm run bench` runs it. The secrets are the run's own, because the harness signs connect tokens
 * with the same one (src/lib/session-token.ts), and kept across a restart of the same target.
 */
import { trackTarget } from '../bench/lifecycle.ts';
import {
  type RuntimeSecrets,
  type SwitchyardWorker,
  startTarget,
  stateDirFor,
  switchyardWorker,
  type Target,
  type TargetSpec,
} from '../bench/targets.ts';
import type { RunningTarget } from './curve-types.ts';

export { newSecrets, type RuntimeSecrets, stateRoot } from '../bench/targets.ts';

type SwitchyardSpec = TargetSpec & { worker: SwitchyardWorker };

/** Every binding wrangler.toml gives the Worker, as scripts/bench.ts configures them. */
export function switchyardSpec(
  name: string,
  scriptPath: string,
  compatibilityDate: string,
  tmpDir: string,
  secrets: RuntimeSecrets,
): SwitchyardSpec {
  return { name, scriptPath, compatibilityDate, stateDir: stateDirFor(tmpDir, name), worker: switchyardWorker(secrets) };
}

/** Starts the target (registered for clean-up on every exit path). */
export async function startSwitchyard(spec: SwitchyardSpec): Promise<Target> {
  const target = await startTarget(spec);
  trackTarget(target);
  return target;
}

/** Fails unless the Worker answers `/ready` (its D1 and Durable Objects reachable, its config valid). */
export async function assertReady(target: Target): Promise<void> {
  const ready = await fetch(new URL('/ready', target.url));
  if (ready.status !== 200) throw new Error(`${target.name}'s /ready answered ${ready.status}: ${await ready.text()}`);
}

export function d1Of(target: Target): Promise<D1Database> {
  return target.mf.getD1Database('DB') as unknown as Promise<D1Database>;
}

/** A started target that can be stopped and started again on its own state (the history seeding needs that). */
export async function runningSwitchyard(spec: SwitchyardSpec): Promise<RunningTarget & { dispose(): Promise<void> }> {
  let target = await startSwitchyard(spec);
  return {
    current: () => target,
    restart: async (whileStopped) => {
      await target.dispose();
      await whileStopped(spec.stateDir, spec.name);
      target = await startSwitchyard(spec);
      return target;
    },
    dispose: () => target.dispose(),
  };
}
