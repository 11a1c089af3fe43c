/**
 * Incidents on the control plane (docs/incidents.md). An incident is opened
 * by an operator or from the collectors' misrouting alerts; it finds the
 * affected devices in the fleet registry, records the data involved and where
 * it went, and hands notices to each device's home region, which gives them
 * to the device at its next check-in. What happened in the regions (ledger
 * counts, alerts, deliveries) is asked of them when it is needed, never copied.
 * This file is an incident's life: opening, reading, linking a fix, closing;
 * its notices are notices.service.ts, the sweep of alerts sweep.service.ts.
 */
import type { AffectedDevices, Incident, IncidentSummary } from "@phonehome/shared";
import { currentActor } from "../../core/audit-log/index.ts";
import type { Db } from "../../core/db/index.ts";
import { isDataCategory } from "../../core/dictionary/index.ts";
import { findBuildManifest } from "../release/index.ts";
import type { PackagePolicy } from "../release/index.ts";
import { getAdvisory } from "../advisories/index.ts";
import {
  buildsOfBatches,
  type Destination,
  findIncidentByAlertKey,
  incidentDeviceCounts,
  incidentNotices,
  type IncidentRecord,
  insertIncident,
  listIncidentRecords,
  lockAlertOpening,
  nextIncidentId,
  registeredBatches,
  registeredBuilds,
  type Scope,
  selectIncidentDevices,
  updateIncident,
} from "./incidents.repository.ts";
export type { Destination, Scope } from "./incidents.repository.ts";
import { type IncidentContext, invalid, mustFind, recordStep } from "./incident-steps.ts";
import { presentNotice, noticeDeliveries } from "./notices.service.ts";

/** What an operator (or an alert) opens an incident with. */
export interface OpenRequest {
  title: string;
  description: string;
  scope: Partial<Scope>;
  dataCategories?: string[];
  destinations?: Destination[];
  advisory?: string;
}

/** The affected devices, counted by batch. */

/** Checks the request against the registry; throws `incident.invalid` naming the field, else the tidied scope. */
async function checkedRequest(db: Db, request: OpenRequest): Promise<Scope> {
  const scope: Scope = {
    batches: [...new Set(request.scope.batches ?? [])],
    builds: [...new Set(request.scope.builds ?? [])],
    markets: [...new Set(request.scope.markets ?? [])],
    from: request.scope.from ?? null,
    to: request.scope.to ?? null,
  };
  if (scope.batches.length + scope.builds.length + scope.markets.length === 0) {
    throw invalid("/scope", "name at least one batch, build or market the incident is about");
  }
  if (scope.from !== null && scope.to !== null && Date.parse(scope.from) >= Date.parse(scope.to)) {
    throw invalid("/scope/to", "the window must end after it starts");
  }
  const batches = await registeredBatches(db, scope.batches);
  const unknownBatch = scope.batches.findIndex((b) => !batches.has(b));
  if (unknownBatch >= 0)
    throw invalid(`/scope/batches/${unknownBatch}`, `no batch ${scope.batches[unknownBatch]}`);
  const builds = await registeredBuilds(db, scope.builds);
  const unknownBuild = scope.builds.findIndex((b) => !builds.has(b));
  if (unknownBuild >= 0)
    throw invalid(`/scope/builds/${unknownBuild}`, `no build ${scope.builds[unknownBuild]}`);
  const badCategory = (request.dataCategories ?? []).findIndex((c) => !isDataCategory(c));
  if (badCategory >= 0) {
    throw invalid(
      `/dataCategories/${badCategory}`,
      `${request.dataCategories?.[badCategory]} is not a data category of the taxonomy`,
    );
  }
  if (request.advisory !== undefined) await advisoryOrInvalid(db, request.advisory);
  return scope;
}

async function advisoryOrInvalid(db: Db, id: string): Promise<void> {
  try {
    await getAdvisory(db, id);
  } catch {
    throw invalid("/advisory", `no advisory ${id}`);
  }
}

/**
 * What the gate found in the builds involved says what data they sent and
 * where: the categories the package policy lists for a blocked component,
 * and the endpoints the findings name.
 */
async function fromGateFindings(
  db: Db,
  policy: PackagePolicy,
  builds: readonly string[],
): Promise<{ categories: string[]; destinations: Destination[] }> {
  const categories = new Set<string>();
  const destinations = new Map<string, Destination>();
  for (const number of builds) {
    const build = await findBuildManifest(db, number);
    const findings = (build?.verdict?.findings ?? []) as {
      code: string;
      component: string;
      endpoint: string | null;
    }[];
    for (const f of findings) {
      for (const c of policy.packages.get(f.component)?.dataCategories ?? []) categories.add(c);
      if (f.endpoint !== null && !destinations.has(f.endpoint)) {
        destinations.set(f.endpoint, {
          kind: "endpoint",
          name: f.endpoint,
          note: `${f.component} in build ${number} (${f.code})`,
        });
      }
    }
  }
  return { categories: [...categories].sort(), destinations: [...destinations.values()] };
}

/**
 * Opens an incident: finds its devices in the registry and records the data
 * categories and destinations named, with those the release gate's findings
 * for the builds involved add. Refused with `incident.invalid` when the scope
 * names nothing registered or selects no device; nothing is stored then.
 */
export async function openIncident(
  ctx: IncidentContext,
  request: OpenRequest,
  now = new Date(),
): Promise<Incident> {
  return getIncident(ctx, (await opened(ctx, request, now)).id);
}

/** Opens the incident, or (for an alert an incident was opened for meanwhile) answers that one. */
export async function opened(
  ctx: IncidentContext,
  request: OpenRequest & { source?: IncidentRecord["source"]; alertKey?: string },
  now: Date,
): Promise<{ id: string; created: boolean }> {
  const scope = await checkedRequest(ctx.db, request);
  const involved = [...new Set([...scope.builds, ...(await buildsOfBatches(ctx.db, scope.batches))])];
  const found = await fromGateFindings(ctx.db, ctx.policy, involved);
  const destinations = [...(request.destinations ?? [])];
  for (const d of found.destinations) if (!destinations.some((x) => x.name === d.name)) destinations.push(d);
  const record: Omit<IncidentRecord, "id"> = {
    title: request.title,
    description: request.description,
    source: request.source ?? "operator",
    alertKey: request.alertKey ?? null,
    scope,
    dataCategories: [...new Set([...(request.dataCategories ?? []), ...found.categories])].sort(),
    destinations,
    advisory: request.advisory ?? null,
    openedAt: now,
    closedAt: null,
  };
  return ctx.db.transaction(async (tx) => {
    if (record.alertKey !== null) {
      await lockAlertOpening(tx);
      const earlier = await findIncidentByAlertKey(tx, record.alertKey);
      if (earlier !== null) return { id: earlier.id, created: false };
    }
    const id = await nextIncidentId(tx);
    await insertIncident(tx, { id, ...record });
    const devices = await selectIncidentDevices(tx, id, scope);
    if (devices === 0) throw invalid("/scope", "no registered device matches the scope");
    await recordStep(tx, id, record.source === "misrouting" ? "system:incidents" : currentActor(), {
      at: now,
      kind: "opened",
      detail: {
        source: record.source,
        devices,
        ...(record.alertKey === null ? {} : { alert: record.alertKey }),
      },
    });
    return { id, created: true };
  });
}

async function affectedDevices(ctx: IncidentContext, incident: string): Promise<AffectedDevices> {
  const rows = await incidentDeviceCounts(ctx.db, incident);
  return {
    total: rows.reduce((n, r) => n + r.devices, 0),
    batches: rows.map((r) => ({
      batch: r.batch,
      build: r.build,
      market: r.market,
      region: ctx.regionOfMarket(r.market),
      devices: r.devices,
    })),
  };
}

/** One incident with its devices and notices; with `deliveries`, each notice's delivery as the regions count it. */
export async function getIncident(
  ctx: IncidentContext,
  id: string,
  options: { deliveries?: boolean } = {},
): Promise<Incident> {
  const incident = await mustFind(ctx.db, id);
  const notices = (await incidentNotices(ctx.db, id)).map(presentNotice);
  if (options.deliveries === true && notices.length > 0) {
    const { gathered, byNotice } = await noticeDeliveries(ctx, id);
    for (const n of notices) {
      const counts = byNotice.get(n.id) ?? [];
      n.delivery = {
        devices: counts.reduce((s, c) => s + c.devices, 0),
        delivered: counts.reduce((s, c) => s + c.delivered, 0),
        missing: gathered.missing,
      };
    }
  }
  return {
    id: incident.id,
    title: incident.title,
    description: incident.description,
    source: incident.source,
    status: incident.closedAt === null ? "open" : "closed",
    scope: incident.scope,
    dataCategories: incident.dataCategories,
    destinations: incident.destinations,
    advisory: incident.advisory,
    openedAt: incident.openedAt.toISOString(),
    closedAt: incident.closedAt?.toISOString() ?? null,
    devices: await affectedDevices(ctx, id),
    notices,
  };
}

/** Every incident, newest first, with its device count. */
export async function listIncidents(db: Db): Promise<IncidentSummary[]> {
  return (await listIncidentRecords(db)).map((r) => ({
    id: r.id,
    title: r.title,
    source: r.source,
    status: r.closedAt === null ? "open" : "closed",
    openedAt: r.openedAt.toISOString(),
    devices: r.devices,
  }));
}

/** Links an advisory (the fix) to the incident, or closes it; each change goes on its timeline. */
export async function changeIncident(
  ctx: IncidentContext,
  id: string,
  change: { advisory?: string; status?: "closed" },
  now = new Date(),
): Promise<Incident> {
  if (change.advisory !== undefined) await advisoryOrInvalid(ctx.db, change.advisory);
  await ctx.db.transaction(async (tx) => {
    const incident = await mustFind(tx, id, true);
    if (incident.closedAt !== null) throw invalid("/status", `incident ${id} is closed`);
    if (change.advisory !== undefined && change.advisory !== incident.advisory) {
      await updateIncident(tx, id, { advisory: change.advisory });
      await recordStep(tx, id, currentActor(), {
        at: now,
        kind: "advisory",
        detail: { advisory: change.advisory },
      });
    }
    if (change.status === "closed") {
      await updateIncident(tx, id, { closedAt: now });
      await recordStep(tx, id, currentActor(), { at: now, kind: "closed", detail: {} });
    }
  });
  return getIncident(ctx, id);
}
