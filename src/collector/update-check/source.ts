/**
 * How a region reaches the control plane's update plan and hands it outcome
 * reports: over HTTP with the service token (`serve --region`), or in-process
 * when both run in one process (`phonehome up`, in
 * src/compose/system/in-process-updates.ts). The plan is cached for a moment,
 * so a burst of checks costs one read.
 */
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { UpdatePlan } from "./offer.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";
import { presentedToken } from "../../core/http/index.ts";

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

/** `read`, answered from its last result for `ttlMs`; a failed read is not kept. */
export function cachedPlan(read: () => Promise<UpdatePlan>, ttlMs: number): () => Promise<UpdatePlan> {
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

/** The control plane at `url`, over HTTP with the service token. */
export function httpUpdates(
  url: string,
  serviceToken: ServiceTokenSource,
  ttlMs = PLAN_CACHE_MS,
): UpdateSource {
  const call = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(`${url}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${presentedToken(serviceToken)}`,
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
