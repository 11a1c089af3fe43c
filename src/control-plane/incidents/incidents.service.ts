/**
 * Incidents on the control plane (docs/incidents.md). An incident is opened
 * by an operator or from the collectors' misrouting alerts; it finds the
 * affected devices in the fleet registry, records the data involved and where
 * it went, and hands notices to each device's home region, which gives them
 * to the device at its next check-in. What happened in the regions (ledger
 * counts, alerts, deliveries) is asked of them when it is needed, never copied.
 */
import {
  type AffectedDevices,
  type Incident,
  type IncidentNotice,
  type IncidentSummary,
  type LedgerTotal,
  type MisroutingAlert,
  NOTICE_DEVICES_PER_CALL,
  type NoticeDelivery,
} from "@phonehome/shared";
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import { callRegion, fromEveryRegion, type Gathered, type RegionRef } from "../regions/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { isDataCategory } from "../../core/dictionary/index.ts";
import { isPhoneHomeError, PhoneHomeError } from "../../core/errors/index.ts";
import { findBuildManifest } from "../release/index.ts";
import type { PackagePolicy } from "../release/index.ts";
import { getAdvisory } from "../advisories/index.ts";
import {
  addIncidentEvent,
  buildsOfBatches,
  type Destination,
  findIncident,
  findIncidentByAlertKey,
  incidentDeviceCounts,
  incidentDeviceKeys,
  incidentNotices,
  type IncidentEvent,
  type IncidentRecord,
  insertIncident,
  insertNotice,
  listIncidentRecords,
  lockAlertOpening,
  nextIncidentId,
  type NoticeRecord,
  registeredBatches,
  registeredBuilds,
  type Scope,
  selectIncidentDevices,
  setNoticeRegions,
  updateIncident,
} from "./incidents.repository.ts";

export type { Destination, Scope } from "./incidents.repository.ts";

/** What the incident services need. */
export interface IncidentContext {
  db: Db;
  serviceToken: string;
  /** Every configured region, where the control plane reaches it, and the country its data is stored in. */
  regions: () => (RegionRef & { storedIn: string })[];
  /** The home region of devices sold in a market. */
  regionOfMarket: (market: string) => string;
  policy: PackagePolicy;
  /** The data dictionary: the categories of the collections misrouted devices sent. */
  dictionary: Dictionary;
}

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

const invalid = (path: string, message: string) => new PhoneHomeError("incident.invalid", message, { path });

async function mustFind(q: Queryable, id: string, forUpdate = false): Promise<IncidentRecord> {
  const incident = await findIncident(q, id, forUpdate);
  if (incident === null) throw new PhoneHomeError("incident.not_found", `no incident ${id}`);
  return incident;
}

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
async function opened(
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

function presentNotice(n: NoticeRecord): IncidentNotice {
  return { id: n.id, title: n.title, body: n.body, sentAt: n.sentAt.toISOString(), regions: n.regions };
}

/** Each notice's delivery, summed over the regions that answered. */
export async function noticeDeliveries(
  ctx: IncidentContext,
  incident: string,
): Promise<{ gathered: Gathered<{ notices: NoticeDelivery[] }>; byNotice: Map<string, NoticeDelivery[]> }> {
  const gathered = await fromEveryRegion(ctx.regions(), (region) =>
    callRegion<{ notices: NoticeDelivery[] }>(
      region,
      ctx.serviceToken,
      "GET",
      `/v1/incident-notices?incident=${incident}`,
    ),
  );
  const byNotice = new Map<string, NoticeDelivery[]>();
  for (const answer of gathered.answers) {
    for (const n of answer.value.notices) {
      const counts = byNotice.get(n.notice);
      if (counts === undefined) byNotice.set(n.notice, [n]);
      else counts.push(n);
    }
  }
  return { gathered, byNotice };
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

/**
 * Hands a notice over to the home region of each of the incident's devices,
 * in lists the regions take whole, and records what each region answered. A
 * region that cannot be reached is recorded with why; handing over again
 * (`resendNotice`) reaches it, and devices that hold the notice keep it.
 */
async function handOver(
  ctx: IncidentContext,
  incident: IncidentRecord,
  notice: NoticeRecord,
): Promise<IncidentNotice> {
  const byRegion = new Map<string, string[]>();
  for (const d of await incidentDeviceKeys(ctx.db, incident.id)) {
    const region = ctx.regionOfMarket(d.market);
    const keys = byRegion.get(region);
    if (keys === undefined) byRegion.set(region, [d.keyId]);
    else keys.push(d.keyId);
  }
  const regions = new Map(ctx.regions().map((r) => [r.id, r]));
  const answered: NoticeRecord["regions"] = {};
  for (const [id, keys] of byRegion) {
    const at = new Date().toISOString();
    const region = regions.get(id);
    if (region === undefined) {
      answered[id] = { error: `region ${id} is not configured`, at };
      continue;
    }
    try {
      let devices = 0;
      for (let i = 0; i < keys.length; i += NOTICE_DEVICES_PER_CALL) {
        const answer = await callRegion<{ devices: number }>(
          region,
          ctx.serviceToken,
          "PUT",
          `/v1/incident-notices/${notice.id}`,
          {
            incident: incident.id,
            title: notice.title,
            body: notice.body,
            sentAt: notice.sentAt.toISOString(),
            devices: keys.slice(i, i + NOTICE_DEVICES_PER_CALL),
          },
        );
        devices = answer.devices;
      }
      answered[id] = { devices, at };
    } catch (error) {
      answered[id] = { error: (error as Error).message, at };
    }
  }
  await setNoticeRegions(ctx.db, notice.id, answered);
  return presentNotice({ ...notice, regions: { ...notice.regions, ...answered } });
}

/** Sends a notice to every device of an open incident (through their home regions); answers what each region took. */
export async function sendNotice(
  ctx: IncidentContext,
  id: string,
  text: { title: string; body: string },
  now = new Date(),
): Promise<IncidentNotice> {
  const { incident, notice } = await ctx.db.transaction(async (tx) => {
    const incident = await mustFind(tx, id, true);
    if (incident.closedAt !== null) throw invalid("/", `incident ${id} is closed; open a new one`);
    const noticeId = await insertNotice(tx, { incident: id, ...text, sentAt: now });
    await recordStep(tx, id, currentActor(), {
      at: now,
      kind: "notice",
      detail: { notice: noticeId, title: text.title },
    });
    const notice: NoticeRecord = { id: noticeId, incident: id, ...text, sentAt: now, regions: {} };
    return { incident, notice };
  });
  return handOver(ctx, incident, notice);
}

/** Hands a notice over again (after a region could not be reached); devices that hold it are not told twice. */
export async function resendNotice(
  ctx: IncidentContext,
  id: string,
  noticeId: string,
): Promise<IncidentNotice> {
  const incident = await mustFind(ctx.db, id);
  const notice = (await incidentNotices(ctx.db, id)).find((n) => n.id === noticeId);
  if (notice === undefined)
    throw new PhoneHomeError("incident.not_found", `incident ${id} has no notice ${noticeId}`);
  return handOver(ctx, incident, notice);
}

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
export async function sweepAlerts(ctx: IncidentContext, now = new Date()): Promise<SweepResult> {
  const gathered = await fromEveryRegion(ctx.regions(), (region) =>
    callRegion<{ alerts: MisroutingAlert[] }>(region, ctx.serviceToken, "GET", "/v1/alerts/misrouting"),
  );
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

/** A step of an incident: on its own timeline (for the report) and in the audit log. */
async function recordStep(
  tx: Queryable,
  incident: string,
  actor: string,
  event: IncidentEvent,
): Promise<void> {
  await addIncidentEvent(tx, incident, event);
  await appendAudit(
    tx,
    { actor, action: `incident.${event.kind}`, subject: incident, reason: null, detail: event.detail },
    event.at,
  );
}
