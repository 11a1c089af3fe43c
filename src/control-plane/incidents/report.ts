/**
 * The regulator report of an incident, gathered (its Markdown rendering is
 * report.markdown.ts). Every figure
 * is read when the report is made: devices from the fleet registry, what was
 * stored or refused from each region's ingest ledger, alerts from the
 * collectors, the gate's verdicts and releases from the builds, adoption from
 * the regions' day counts, deliveries from the regions' notice records. A
 * region that does not answer is named in the report, never guessed.
 */
import type { Incident, LedgerTotal } from "@phonehome/shared";
import { adoptionOf, getAdvisory } from "../advisories/index.ts";
import { callRegion, fromEveryRegion } from "../regions/index.ts";
import { DATA_CATEGORIES } from "../../core/dictionary/index.ts";
import { findBuildManifest } from "../release/index.ts";
import { incidentDeviceCounts, incidentEvents } from "./incidents.repository.ts";
import { type Destination, getIncident } from "./incidents.service.ts";
import type { IncidentContext } from "./incident-steps.ts";
import { noticeDeliveries } from "./notices.service.ts";

/** The report's format name, for readers of the JSON. */
export const REPORT_FORMAT = "phonehome.incident-report/1";

/** A misrouting alert of a collector, as the report lists it. */
export interface ReportAlert {
  region: string;
  batch: string;
  build: string;
  market: string;
  expectedRegion: string;
  claimedRegion: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
}

/** The report, as JSON. */
export interface IncidentReport {
  format: typeof REPORT_FORMAT;
  generatedAt: string;
  incident: Pick<
    Incident,
    "id" | "title" | "description" | "source" | "status" | "openedAt" | "closedAt" | "advisory" | "scope"
  >;
  /** The time the ledgers and alerts were read over: from the scope's start (or the first affected device's provisioning) to now. */
  window: { since: string; until: string };
  /** Regions that did not answer one of the report's questions, and which. */
  unanswered: { region: string; question: string; reason: string }[];
  timeline: { at: string; event: string }[];
  devices: Incident["devices"] & { markets: { market: string; region: string; devices: number }[] };
  dataCategories: { name: string; description: string }[];
  destinations: Destination[];
  storage: {
    stored: number;
    replayed: number;
    refused: number;
    regions: {
      region: string;
      storedIn: string;
      stored: number;
      replayed: number;
      refused: number;
      /** Refusals by error code. */
      reasons: Record<string, number>;
      collections: string[];
    }[];
  };
  alerts: ReportAlert[];
  measures: {
    builds: {
      number: string;
      gate: "passed" | "blocked" | "not checked";
      findings: string[];
      checkedAt: string | null;
      releasedAt: string | null;
      releaseForced: string | null;
    }[];
    advisory: {
      id: string;
      title: string;
      fixes: { lineage: string; build: string; releasedAt: string }[];
    } | null;
    adoption: {
      asOf: string | null;
      devices: number;
      fixed: number;
      share: number;
      batches: {
        batch: string;
        market: string;
        day: string;
        devices: number;
        fixed: number;
        share: number;
      }[];
    } | null;
  };
  notices: { id: string; title: string; sentAt: string; devices: number; delivered: number }[];
}

type AdoptionRow = NonNullable<IncidentReport["measures"]["adoption"]>["batches"][number];

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out.length === 0 ? [[]] : out;
}

const share = (part: number, whole: number) =>
  whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000;

/** Makes the report of incident `id` from the running system. */
export async function incidentReport(
  ctx: IncidentContext,
  id: string,
  now = new Date(),
): Promise<IncidentReport> {
  const incident = await getIncident(ctx, id);
  const counts = await incidentDeviceCounts(ctx.db, id);
  const batches = counts.map((c) => c.batch);
  const firstMade = counts.reduce<Date | null>(
    (first, c) => (first === null || c.firstProvisionedAt < first ? c.firstProvisionedAt : first),
    null,
  );
  const since = incident.scope.from ?? firstMade?.toISOString() ?? incident.openedAt;
  const window = { since: new Date(since).toISOString(), until: now.toISOString() };
  const unanswered: IncidentReport["unanswered"] = [];
  const noteMissing = (question: string, missing: { region: string; reason: string }[]) =>
    unanswered.push(...missing.map((m) => ({ region: m.region, question, reason: m.reason })));
  const regions = ctx.regions();
  const storedIn = new Map(regions.map((r) => [r.id, r.storedIn]));

  // What reached each collector, from its ledger: only the incident's batches (and builds, when it names them).
  const ledger = await fromEveryRegion(regions, async (region) => {
    const rows: LedgerTotal[] = [];
    for (const part of chunks(batches, 100)) {
      const query = new URLSearchParams({
        since: window.since,
        until: window.until,
        batches: part.join(","),
      });
      if (incident.scope.builds.length > 0) query.set("builds", incident.scope.builds.join(","));
      rows.push(
        ...(
          await callRegion<{ rows: LedgerTotal[] }>(
            region,
            ctx.serviceToken,
            "GET",
            `/v1/ledger/totals?${query}`,
          )
        ).rows,
      );
    }
    const markets = incident.scope.markets;
    return rows.filter((r) => markets.length === 0 || markets.includes(r.market));
  });
  noteMissing("ingest ledger", ledger.missing);
  const storage: IncidentReport["storage"] = { stored: 0, replayed: 0, refused: 0, regions: [] };
  for (const { region, value } of ledger.answers) {
    const entry = {
      region,
      storedIn: storedIn.get(region) ?? "",
      stored: 0,
      replayed: 0,
      refused: 0,
      reasons: {} as Record<string, number>,
      collections: [...new Set(value.map((r) => r.collection).filter((c) => c !== ""))].sort(),
    };
    for (const r of value) {
      entry[r.outcome] += r.count;
      storage[r.outcome] += r.count;
      if (r.outcome === "refused") entry.reasons[r.reason] = (entry.reasons[r.reason] ?? 0) + r.count;
    }
    storage.regions.push(entry);
  }

  const alertAnswers = await fromEveryRegion(regions, (region) =>
    callRegion<{ alerts: Omit<ReportAlert, "region">[] }>(
      region,
      ctx.serviceToken,
      "GET",
      "/v1/alerts/misrouting",
    ),
  );
  noteMissing("misrouting alerts", alertAnswers.missing);
  const alerts: ReportAlert[] = alertAnswers.answers.flatMap(({ region, value }) =>
    value.alerts.filter((a) => batches.includes(a.batch)).map((a) => ({ region, ...a })),
  );

  const builds: IncidentReport["measures"]["builds"] = [];
  for (const number of [...new Set([...incident.scope.builds, ...counts.map((c) => c.build)])].sort()) {
    const b = await findBuildManifest(ctx.db, number);
    if (b === null) continue;
    const findings = (b.verdict?.findings ?? []) as { code: string }[];
    builds.push({
      number,
      gate: b.verdict === null ? "not checked" : b.verdict.passed ? "passed" : "blocked",
      findings: [...new Set(findings.map((f) => f.code))].sort(),
      checkedAt: b.checkedAt?.toISOString() ?? null,
      releasedAt: b.releasedAt?.toISOString() ?? null,
      releaseForced: b.releaseForced?.reason ?? null,
    });
  }

  let advisory: IncidentReport["measures"]["advisory"] = null;
  let adoption: IncidentReport["measures"]["adoption"] = null;
  let publishedAt: string | null = null;
  if (incident.advisory !== null) {
    const a = await getAdvisory(ctx.db, incident.advisory);
    advisory = { id: a.id, title: a.title, fixes: a.fixes };
    publishedAt = a.publishedAt;
    const measured = await adoptionOf(
      ctx.db,
      { regions: ctx.regions, serviceToken: ctx.serviceToken },
      a.id,
      window.since.slice(0, 10),
    );
    noteMissing("adoption", measured.regions.missing);
    const latest = new Map<string, AdoptionRow>();
    for (const d of measured.days.filter((d) => batches.includes(d.batch))) {
      const key = `${d.batch}\u0000${d.market}`;
      const seen = latest.get(key);
      if (seen === undefined || seen.day < d.day) latest.set(key, d);
    }
    const rows = [...latest.values()].sort((x, y) => (x.batch < y.batch ? -1 : x.batch > y.batch ? 1 : 0));
    const devices = rows.reduce((n, r) => n + r.devices, 0);
    const fixed = rows.reduce((n, r) => n + r.fixed, 0);
    adoption = {
      asOf: rows.reduce<string | null>((d, r) => (d === null || r.day > d ? r.day : d), null),
      devices,
      fixed,
      share: share(fixed, devices),
      batches: rows,
    };
  }

  const deliveries = incident.notices.length === 0 ? null : await noticeDeliveries(ctx, id);
  if (deliveries) noteMissing("notice deliveries", deliveries.gathered.missing);
  const notices = incident.notices.map((n) => {
    const per = deliveries?.byNotice.get(n.id) ?? [];
    return {
      id: n.id,
      title: n.title,
      sentAt: n.sentAt,
      devices: per.reduce((s, c) => s + c.devices, 0),
      delivered: per.reduce((s, c) => s + c.delivered, 0),
    };
  });

  const timeline: IncidentReport["timeline"] = [];
  const at = (when: string | null | undefined, event: string) => {
    if (when) timeline.push({ at: new Date(when).toISOString(), event });
  };
  for (const e of await incidentEvents(ctx.db, id)) {
    const d = e.detail as Record<string, string | number>;
    const when = e.at.toISOString();
    if (e.kind === "opened") {
      at(
        when,
        `Incident ${id} opened ${d.source === "misrouting" ? "from the collectors' misrouting alerts" : "by an operator"}: ${d.devices} devices affected`,
      );
    } else if (e.kind === "notice") at(when, `Notice ${d.notice} sent to the affected devices: "${d.title}"`);
    else if (e.kind === "advisory") at(when, `Advisory ${d.advisory} linked as the fix`);
    else if (e.kind === "closed") at(when, `Incident ${id} closed`);
  }
  for (const a of alerts) {
    at(
      a.firstSeen,
      `Collector of region ${a.region} first refused a device of batch ${a.batch} (build ${a.build}, sold in ${a.market})`,
    );
    if (a.lastSeen !== a.firstSeen)
      at(
        a.lastSeen,
        `Collector of region ${a.region} last refused a device of batch ${a.batch} (${a.count} refusals in all)`,
      );
  }
  for (const b of builds) {
    at(
      b.checkedAt,
      `Release gate ${b.gate === "blocked" ? `blocked build ${b.number} (${b.findings.join(", ")})` : `passed build ${b.number}`}`,
    );
    at(
      b.releasedAt,
      b.releaseForced === null
        ? `Build ${b.number} released`
        : `Build ${b.number} released although the gate blocked it: ${b.releaseForced}`,
    );
  }
  if (advisory !== null) {
    at(publishedAt, `Advisory ${advisory.id} published: ${advisory.title}`);
    for (const f of advisory.fixes)
      at(f.releasedAt, `Fixed build ${f.build} (lineage ${f.lineage}) released`);
  }
  for (const n of incident.notices) {
    for (const c of deliveries?.byNotice.get(n.id) ?? []) {
      at(c.firstDeliveredAt, `Notice ${n.id} first delivered to a device`);
    }
  }
  at(window.until, "This report generated");
  // Same-instant entries keep the order they were added in (the sort is stable).
  timeline.sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : 0));

  const markets = new Map<string, { market: string; region: string; devices: number }>();
  for (const b of incident.devices.batches) {
    const m = markets.get(b.market) ?? { market: b.market, region: b.region, devices: 0 };
    m.devices += b.devices;
    markets.set(b.market, m);
  }
  return {
    format: REPORT_FORMAT,
    generatedAt: window.until,
    incident: {
      id: incident.id,
      title: incident.title,
      description: incident.description,
      source: incident.source,
      status: incident.status,
      openedAt: incident.openedAt,
      closedAt: incident.closedAt,
      advisory: incident.advisory,
      scope: incident.scope,
    },
    window,
    unanswered,
    timeline,
    devices: {
      ...incident.devices,
      markets: [...markets.values()].sort((x, y) => (x.market < y.market ? -1 : 1)),
    },
    dataCategories: incident.dataCategories.map((name) => ({
      name,
      description: DATA_CATEGORIES[name]?.description ?? "",
    })),
    destinations: incident.destinations,
    storage,
    alerts,
    measures: { builds, advisory, adoption },
    notices,
  };
}
