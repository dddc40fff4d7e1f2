/**
 * Benchmark reference: the least a Worker can do. `GET /health`'s figures are also divided by
 * this one, for information only (no budget): it shows what the runtime itself costs per request.
 */

// biome-ignore lint/style/noDefaultExport: the Workers runtime needs the handler object as the default export.
export default {
  fetch(): Response {
    return new Response('ok');
  },
} satisfies ExportedHandler;
