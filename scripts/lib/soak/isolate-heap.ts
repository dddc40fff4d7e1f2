/**
 * The JavaScript heap of the Worker's isolate (its Durable Objects run in it too), after a full
 * garbage collection, read through the V8 inspector `wrangler dev` gives workerd. This, not the
 * process's RSS, is where the Worker's own objects live: under `wrangler dev` workerd's RSS climbs
 * for minutes even for a Worker that only answers "ok" (measured: 143 → ~380 MiB over the first
 * ~30,000 requests, flat after), memory the runtime's allocator keeps, while the isolates' heaps
 * together stay under ~80 MiB.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const ATTEMPTS = 3;
const STEP_TIMEOUT_MS = 10_000;
const USER_WORKER_PREFIX = 'core:user:';

/** TCP ports `pid` listens on (IPv4), from its socket descriptors and /proc/net/tcp. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // Closed while we looked.
    }
  }
  const ports: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [, local, , state, , , , , , inode] = fields;
    // 0A: LISTEN.
    if (state === '0A' && inode !== undefined && inodes.has(inode)) ports.push(Number.parseInt(local?.split(':')[1] ?? '', 16));
  }
  return ports;
}

interface InspectorTarget {
  id: string;
  webSocketDebuggerUrl: string;
}

// Found once per process: finding it asks every port, the Worker's own among them (a logged 404).
const debuggerUrls = new Map<number, string>();

async function userWorkerTarget(pid: number): Promise<string> {
  const known = debuggerUrls.get(pid);
  if (known !== undefined) return known;
  for (const port of listeningPorts(pid)) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(2_000) });
      const targets = (await response.json()) as InspectorTarget[];
      const found = Array.isArray(targets) ? targets.find((target) => target.id.startsWith(USER_WORKER_PREFIX)) : undefined;
      if (found) {
        debuggerUrls.set(pid, found.webSocketDebuggerUrl);
        return found.webSocketDebuggerUrl;
      }
    } catch {
      // Not the inspector (the Worker's own socket answers JSON too, but no list).
    }
  }
  throw new Error(`no V8 inspector with a ${USER_WORKER_PREFIX}* target on the ports of workerd ${pid}`);
}

/** Sends CDP commands one after another on one session; resolves with the last one's result. */
function inspect(url: string, methods: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    let step = 0;
    let timer: NodeJS.Timeout | undefined;
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    };
    const send = () => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new Error(`${methods[step]} got no answer`)), STEP_TIMEOUT_MS);
      socket.send(JSON.stringify({ id: step + 1, method: methods[step] }));
    };
    socket.addEventListener('open', send);
    socket.addEventListener('close', (event) => fail(new Error(`the inspector closed the session (${event.code})`)));
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
      if (message.id !== step + 1) return;
      step += 1;
      if (step < methods.length) {
        send();
        return;
      }
      clearTimeout(timer);
      resolve(message.result);
      socket.close();
    });
  });
}

/** The Worker isolate's used heap after a full GC, in MiB. */
export async function isolateHeapMiB(pid: number): Promise<number> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
    try {
      const usage = (await inspect(await userWorkerTarget(pid), [
        'Runtime.enable',
        'HeapProfiler.collectGarbage',
        'Runtime.getHeapUsage',
      ])) as {
        usedSize: number;
      };
      return usage.usedSize / 1024 / 1024;
    } catch (error) {
      lastError = error;
      debuggerUrls.delete(pid);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  throw new Error(`could not read the Worker's heap: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
}
