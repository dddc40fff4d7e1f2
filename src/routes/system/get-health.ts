import { HealthSchema } from '../../schemas/system.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';

export const getHealthRoute = defineRoute({
  method: 'get',
  path: '/health',
  operationId: 'getHealth',
  tags: ['System'],
  summary: 'Liveness probe',
  description:
    'Answers 200 while the Worker runs. It checks no dependency, so it is cheap enough to poll often; use `/ready` to know whether requests can be served.',
  security: [],
  responses: {
    200: { description: 'The Worker is running.', content: { 'application/json': { schema: HealthSchema } } },
  },
});

export const getHealth: AppRouteHandler<typeof getHealthRoute> = (c) => c.json({ status: 'ok' as const }, 200);
