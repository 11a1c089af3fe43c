/**
 * How the control plane asks every region something (adoption counts,
 * misrouting alerts, ledger totals, notice deliveries): with the service
 * token, each region at once, a region that does not answer named with why,
 * never guessed.
 */
import type { ServiceTokenSource } from "../../core/http/index.ts";
import { presentedToken } from "../../core/http/index.ts";

/** A region and where the control plane reaches it. */
export interface RegionRef {
  id: string;
  url: string;
}

/** What every region answered, and which did not. Both in region order. */
export interface Gathered<T> {
  answers: { region: string; value: T }[];
  missing: { region: string; reason: string }[];
}

/** One call to a region's service-token route; throws with the status when the answer is not 2xx. */
export async function callRegion<T>(
  region: RegionRef,
  token: ServiceTokenSource,
  method: "GET" | "PUT" | "POST",
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${region.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${presentedToken(token)}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`answered ${response.status}`);
  return (await response.json()) as T;
}

/** Runs `ask` against every region at once and gathers the answers. */
export async function fromEveryRegion<T>(
  regions: readonly RegionRef[],
  ask: (region: RegionRef) => Promise<T>,
): Promise<Gathered<T>> {
  const answers: Gathered<T>["answers"] = [];
  const missing: Gathered<T>["missing"] = [];
  await Promise.all(
    regions.map(async (region) => {
      try {
        answers.push({ region: region.id, value: await ask(region) });
      } catch (error) {
        missing.push({ region: region.id, reason: (error as Error).message });
      }
    }),
  );
  const byRegion = (a: { region: string }, b: { region: string }) => (a.region < b.region ? -1 : 1);
  return { answers: answers.sort(byRegion), missing: missing.sort(byRegion) };
}
