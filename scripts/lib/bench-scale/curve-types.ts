/**
 * What every curve records, and what it needs from the run: the types the curves, the report and
 * the plots share.
 */
import type { Seed } from '../bench/seed.ts';
import type { Target } from '../bench/targets.ts';
import type { HttpFigures, HttpPointSettings } from './http-point.ts';

/** Seeding is timed and reported, never a measured figure. */
export interface SeedTiming {
  what: string;
  rows: number;
  seconds: number;
}

/** One request at one table size. */
export interface HttpPoint extends HttpFigures {
  size: number;
  /** The query's id (`first`, `deep`, …), stable across sizes. */
  query: string;
  title: string;
  /** A short name for the charts' legends. */
  legend: string;
  path: string;
}

export interface HttpCurve {
  points: HttpPoint[];
  seeding: SeedTiming[];
}

/** A query of an HTTP curve: its path at a given table size. */
export interface CurveQuery {
  id: string;
  title: string;
  legend: string;
  path(size: number): string;
}

/** The target of a run, which the history curve restarts once (its seeding needs the runtime stopped). */
export interface RunningTarget {
  current(): Target;
  /** Stops the runtime, runs `whileStopped`, starts it again on the same state and secrets. */
  restart(whileStopped: (stateDir: string, workerName: string) => Promise<void>): Promise<Target>;
}

export interface CurveContext {
  seed: Seed;
  http: HttpPointSettings;
  log(message: string): void;
  /** Every runtime process the harness runs now (for the noise figure). */
  runtimePids(): number[];
}
