/**
 * @module
 * Starting an export's job: a Workflow instance named by the export's id, so that starting it
 * twice (the request, then the hourly check of exports that never started) makes one instance.
 */
import type { ExportJobParams } from '../../env.ts';

/** Whether the error is the Workflow refusing an instance id it already has. */
function alreadyStarted(error: unknown): boolean {
  return error instanceof Error && /already exists/i.test(error.message);
}

/** Starts the export's job unless it exists; true when it was started now. */
export async function startExportJob(workflow: Workflow<ExportJobParams>, params: ExportJobParams): Promise<boolean> {
  try {
    await workflow.create({ id: params.exportId, params });
    return true;
  } catch (error) {
    if (alreadyStarted(error)) return false;
    throw error;
  }
}
