/**
 * @module
 * The plans an organisation can be on (`organizations.plan`); what each allows is in
 * src/db/organizations.ts. Here, below the request context, because the context carries the plan.
 */
export const PLANS = ['free', 'pro', 'enterprise', 'unlimited'] as const;
export type Plan = (typeof PLANS)[number];
