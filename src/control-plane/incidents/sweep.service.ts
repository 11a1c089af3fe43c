/**
 * The sweep of the collectors' misrouting alerts: an incident opened for each
 * batch and build that reached a region it does not belong to, with the data
 * categories of what it sent.
 */
import type { Incident, LedgerTotal, MisroutingAlert } from "@phonehome/shared";
import { callRegion, fromEveryRegion } from "../regions/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { findIncidentByAlertKey, registeredBuilds } from "./incidents.repository.ts";
import { opened, getIncident } from "./incidents.service.ts";
import type { IncidentContext } from "./incident-steps.ts";

/** What a sweep of the alerts did. */
export interface SweepResult {
  opened: Incident[];
  /** Incidents already open for the alerts seen (by batch and build). */
  known: string[];
  /** Alerts no incident could be opened for (e.g. their batch is no longer registered), with why. */
  skipped: { alert: string; reason: string }[];
  regions: { answered: string[]; missing: { region: string; reason: string }[] };
}

/**
 * Reads every collector's misrouting alerts and opens an incident for each
 * batch and build that no incident covers yet: the devices of that batch (and
 * market), the collectors they reached as destinations (refused there, and
 * what was stored the report reads from the ledgers).
 */
export async function sweepAlerts(
  ctx: IncidentContext,
  now = new Date(),
  signal?: AbortSignal,
): Promise<SweepResult> {
  const gathered = await fromEveryRegion(ctx.regions(), (region) =>
    callRegion<{ alerts: MisroutingAlert[] }>(region, ctx.serviceToken, "GET", "/v1/alerts/misrouting"),
  );
  // A leased sweep whose lease ran out while it asked writes nothing: another replica sweeps now.
  signal?.throwIfAborted();
  const groups = new Map<
    string,
    {
      batch: string;
      build: string;
      markets: Set<string>;
      reached: Set<string>;
      firstSeen: string;
      count: number;
    }
  >();
  for (const { region, value } of gathered.answers) {
    for (const a of value.alerts) {
      const key = `${a.batch}/${a.build}`;
      const g = groups.get(key) ?? {
        batch: a.batch,
        build: a.build,
        markets: new Set<string>(),
        reached: new Set<string>(),
        firstSeen: a.firstSeen,
        count: 0,
      };
      g.markets.add(a.market);
      g.reached.add(region);
      if (a.firstSeen < g.firstSeen) g.firstSeen = a.firstSeen;
      g.count += a.count;
      groups.set(key, g);
    }
  }
  const created: Incident[] = [];
  const known: string[] = [];
  const skipped: SweepResult["skipped"] = [];
  for (const [key, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const earlier = await findIncidentByAlertKey(ctx.db, key);
    if (earlier !== null) {
      known.push(earlier.id);
      continue;
    }
    const builds = await registeredBuilds(ctx.db, [g.build]);
    const sent = await misroutedCollections(ctx, g);
    const markets = [...g.markets].sort();
    const reached = [...g.reached].sort();
    let result: { id: string; created: boolean };
    try {
      result = await opened(
        ctx,
        {
          title: `Devices of batch ${g.batch} (build ${g.build}) reached the collector of region ${reached.join(", ")}`,
          description:
            `Collectors refused ${g.count} message(s) from devices of batch ${g.batch}, sold in ${markets.join(", ")}, ` +
            `running build ${g.build}, because they belong to another region; first seen ${g.firstSeen}. ` +
            `${sent.length === 0 ? "" : `They sent ${sent.join(", ")}, sealed for a region that is not theirs. `}` +
            "Opened from the collectors' misrouting alerts.",
          scope: { batches: [g.batch], builds: builds.has(g.build) ? [g.build] : [], markets },
          dataCategories: categoriesOf(ctx.dictionary, sent),
          destinations: reached.map((region) => ({
            kind: "collector" as const,
            name: region,
            note: "misrouted messages refused by this region's collector; what it stored is in its ingest ledger",
          })),
          source: "misrouting",
          alertKey: key,
        },
        now,
      );
    } catch (error) {
      if (!isPhoneHomeError(error, "incident.invalid")) throw error;
      skipped.push({ alert: key, reason: error.message });
      continue;
    }
    if (result.created) created.push(await getIncident(ctx, result.id));
    else known.push(result.id);
  }
  return {
    opened: created,
    known,
    skipped,
    regions: { answered: gathered.answers.map((a) => a.region), missing: gathered.missing },
  };
}

/**
 * The collections the misrouted devices sent, from the ledgers of the
 * collectors that refused them (from the minute of the first refusal on). A
 * collector that does not answer adds nothing; the report names it.
 */
async function misroutedCollections(
  ctx: IncidentContext,
  g: { batch: string; build: string; reached: Set<string>; firstSeen: string },
): Promise<string[]> {
  const since = new Date(Math.floor(Date.parse(g.firstSeen) / 60_000) * 60_000).toISOString();
  const query = new URLSearchParams({ since, batches: g.batch, builds: g.build });
  const gathered = await fromEveryRegion(
    ctx.regions().filter((r) => g.reached.has(r.id)),
    (region) =>
      callRegion<{ rows: LedgerTotal[] }>(region, ctx.serviceToken, "GET", `/v1/ledger/totals?${query}`),
  );
  const collections = gathered.answers.flatMap((a) =>
    a.value.rows
      .filter((r) => r.reason === "region.misrouted" && r.collection !== "")
      .map((r) => r.collection),
  );
  return [...new Set(collections)].sort();
}

/** The data categories of every field of every version of the collections. */
function categoriesOf(dictionary: Dictionary, collections: readonly string[]): string[] {
  const categories = dictionary.collections
    .filter((c) => collections.includes(c.name))
    .flatMap((c) => c.fields.map((f) => f.dataCategory));
  return [...new Set(categories)].sort();
}
