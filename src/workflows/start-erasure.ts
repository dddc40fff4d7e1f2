/**
 * @module
 * Starting the erasure job (erasure.ts) and, for the hourly run, keeping it going. Apart from the
 * Workflow class so that the routes, which start it, do not load the Workers runtime's modules
 * (the spec is emitted from the routes under Node).
 */

export type ErasureParams = { kind: 'organization'; orgId: string } | { kind: 'device'; orgId: string; deviceId: string };

/** The instance that erases it: one per organisation, one per device. */
export function erasureInstanceId(params: ErasureParams): string {
  return params.kind === 'organization' ? `erase-${params.orgId}` : `erase-${params.orgId}-${params.deviceId}`;
}

/**
 * Starts the erasure's instance. One that exists already (a retried request, the hourly run) is
 * left as it is: the Workflow refuses a second instance of an id, and this then finds the first.
 */
export async function startErasure(workflow: Workflow<ErasureParams>, params: ErasureParams): Promise<void> {
  const id = erasureInstanceId(params);
  try {
    await workflow.create({ id, params });
  } catch (error) {
    const existing = await workflow.get(id).catch(() => undefined);
    if (existing === undefined) throw error;
  }
}

/** What the hourly run did about one erasure under way: started, restarted, or left running. */
export type ErasureResumption = 'started' | 'restarted' | 'running';

/**
 * For the hourly run: makes sure an erasure under way has an instance at work. One that never
 * started (its request stopped between the commit and the start) is started; one that failed for
 * good, or was terminated, is restarted (it starts over on what is left); one queued, running,
 * waiting or paused is left alone (an operator pauses one on purpose). A complete one whose work
 * is still there (its organisation row, or its device's pending row) is restarted too.
 */
export async function resumeErasure(workflow: Workflow<ErasureParams>, params: ErasureParams): Promise<ErasureResumption> {
  const instance = await workflow.get(erasureInstanceId(params)).catch(() => undefined);
  if (instance === undefined) {
    await startErasure(workflow, params);
    return 'started';
  }
  const { status } = await instance.status();
  if (status === 'errored' || status === 'terminated' || status === 'complete') {
    await instance.restart();
    return 'restarted';
  }
  return 'running';
}
