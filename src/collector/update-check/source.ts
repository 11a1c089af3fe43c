/**
 * How a region reaches the control plane's update plan and hands it outcome
 * reports: in-process when both run in one process (`phonehome up`), over
 * HTTP with the service token otherwise (`serve --region`). The plan is
 * cached for a moment, so a burst of checks costs one read.
 */
import type { Db } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { UpdatePlan } from "./offer.ts";
import { recordOutcome, updatePlan } from "../../control-plane/rollouts/rollouts.service.ts";

/** An outcome report, as a region forwards it. */
export interface OutcomeReport {
  eventId: string;
  build: string;
  outcome: "installed" | "failed";
}

/** The control plane's side of updates, as a region sees it. */
export interface UpdateSource {
  plan(): Promise<UpdatePlan>;
  report(report: OutcomeReport): Promise<void>;
}

/** How long a region answers from a plan it read. */
export const PLAN_CACHE_MS = 1000;

function cachedPlan(read: () => Promise<UpdatePlan>, ttlMs: number): () => Promise<UpdatePlan> {
  let cached: { at: number; plan: Promise<UpdatePlan> } | undefined;
  return () => {
    const now = Date.now();
    if (cached === undefined || now - cached.at > ttlMs) {
      const plan = read();
      cached = { at: now, plan };
      // A failed read is not kept: the next check tries again.
      plan.catch(() => {
        if (cached?.plan === plan) cached = undefined;
      });
    }
    return cached.plan;
  };
}

/** The control plane's store, in this process. */
export function inProcessUpdates(db: Db, ttlMs = PLAN_CACHE_MS): UpdateSource {
  return {
    plan: cachedPlan(() => updatePlan({ db }), ttlMs),
    report: async (report) => {
      await recordOutcome({ db }, report);
    },
  };
}

/** The control plane at `url`, over HTTP with the service token. */
export function httpUpdates(url: string, serviceToken: string, ttlMs = PLAN_CACHE_MS): UpdateSource {
  const call = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(`${url}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${serviceToken}`,
          ...(init.body ? { "content-type": "application/json" } : {}),
        },
      });
    } catch (cause) {
      throw new PhoneHomeError("service.unavailable", `the control plane at ${url} does not answer`, {
        cause,
      });
    }
    if (!response.ok) {
      throw new PhoneHomeError(
        "service.unavailable",
        `the control plane answered ${response.status} to ${path}`,
      );
    }
    return response.json();
  };
  return {
    plan: cachedPlan(async () => (await call("/v1/updates/plan")) as UpdatePlan, ttlMs),
    report: async (report) => {
      await call("/v1/updates/outcomes", { method: "POST", body: JSON.stringify(report) });
    },
  };
}
