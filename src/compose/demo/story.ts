/**
 * `phonehome demo`: the incident replayed end to end on the embedded default,
 * through the real services, SDK and HTTP. A Norway batch built with the China
 * client is blocked by the gate and forced through; the China client's sends
 * are refused (by the SDK's pin, and, where it ignores the pin, by the cn
 * collector without storage); an incident opens from the alert; the fixed
 * build rolls out in stages; devices update and owners get notices; the
 * lookup answers; the regulator report is written. Every figure the story
 * tells is read back from the running system, and returned as `DemoFacts`.
 */
import type { Incident, LedgerTotal } from "@phonehome/shared";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDeviceIdentity, type DeviceIdentity, isSdkError, PhoneHomeClient } from "@phonehome/sdk";
import { buildConfig, type Config } from "../../core/config/index.ts";
import { importFleet } from "../../control-plane/fleet/index.ts";
import { type IncidentReport, reportMarkdown } from "../../control-plane/incidents/index.ts";
import { createLogger } from "../../core/log/index.ts";
import { loadFleetTrust } from "../../core/keys/index.ts";
import { buildSbom } from "../../control-plane/release/index.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "../../control-plane/release/index.ts";
import { legacyActivate } from "../simulate/index.ts";
import { descriptorOf } from "../system/index.ts";
import { type RunningSystem, startSystem } from "../system/index.ts";
import { PLAN_CACHE_MS } from "../../collector/update-check/index.ts";

/** What the story showed, every figure as the system answered it. */
export interface DemoFacts {
  batch: string;
  devices: number;
  gate: {
    worldwide: { passed: boolean; findings: string[] };
    china: { passed: boolean };
    releasedDespiteGate: boolean;
    fixedBuildPassed: boolean;
  };
  activation: {
    /** The China client through the SDK: refusals on the device, by code. */
    sdkRefused: Record<string, number>;
    /** The China client ignoring the pin: the cn collector's answers, by code. */
    collectorRefused: Record<string, number>;
    /** What the cn collector's ledger stored and refused for the batch. */
    cnLedger: { stored: number; refused: number };
    /** Warranties started by the devices' own SDK at home. */
    activatedAtHome: number;
  };
  incident: {
    id: string;
    source: string;
    batches: string[];
    builds: string[];
    devices: number;
    dataCategories: string[];
  };
  rollout: { stage: number; percentage: number; offered: number; installed: number; adoption: number }[];
  notices: { sent: number; shownOnDevices: number; delivered: number };
  lookup: Record<string, string>;
  report: {
    markdown: string;
    json: string;
    stored: number;
    refused: number;
    noticesDelivered: number;
    adoption: number;
  };
}

const MODEL = "TA-1062";
const BATCH = "B2019NO0301";
const OTHER_BATCH = "B2019FI0301";
const EARLIER_BUILD = "00WW_3_39B_SP01";
const ADVISORY = "PH-2019-0001";

/** Options of a demo run. */
export interface DemoOptions {
  /** Where the stores, keys and the report go. */
  dir: string;
  /** Devices in the affected batch (another batch, half as large, is not affected). */
  devices: number;
  /** Each line of the story. */
  say: (line: string) => void;
}

/** Runs the story on a fresh embedded system in `dir`; resolves with what it showed. */
export async function runDemo(options: DemoOptions): Promise<DemoFacts> {
  const { say } = options;
  const config = buildConfig(
    {
      dataDir: options.dir,
      logLevel: "silent",
      controlPlane: { listen: "127.0.0.1:0" },
      regions: [
        { id: "global", storedIn: "SG", listen: "127.0.0.1:0" },
        { id: "cn", storedIn: "CN", listen: "127.0.0.1:0" },
      ],
      incidents: { sweepIntervalSeconds: 0 },
      demo: { devices: 0 },
    },
    options.dir,
  );
  const system = await startSystem(config, createLogger("silent"));
  try {
    return await story(system, config, options, say);
  } finally {
    await system.close();
  }
}

async function story(
  system: RunningSystem,
  config: Config,
  options: DemoOptions,
  say: (line: string) => void,
): Promise<DemoFacts> {
  const cp = system.controlPlane;
  const region = (id: string) => {
    const r = system.regions.find((x) => x.id === id);
    if (r === undefined) throw new Error(`no region ${id}`);
    return r;
  };
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${cp.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${cp.serviceToken}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return (text === "" ? null : JSON.parse(text)) as T;
  };
  const step = (n: number, title: string) => say(`\n${n}. ${title}`);

  say(`phonehome demo: the incident, replayed on the embedded default (PGlite in ${options.dir})`);
  say(`   control plane ${cp.url}`);
  for (const r of system.regions)
    say(`   region ${r.id.padEnd(6)} ${r.url}   stores data in ${r.intake.region.storedIn}`);

  // 1. The factory.
  step(1, "The factory flashes a Norway batch with the worldwide build that carries the China client");
  const home = descriptorOf(region("global"));
  const { roots } = await loadFleetTrust(config.dataDir);
  const make = (market: string, build: string, n: number, prefix: string) =>
    Array.from({ length: n }, (_, i) =>
      createDeviceIdentity(
        {
          serial: `${prefix}${String(i + 1).padStart(6, "0")}`,
          model: MODEL,
          variant: "00WW",
          market,
          build,
        },
        home,
        roots,
      ),
    );
  const affected = make("NO", INCIDENT_BUILD.number, options.devices, "NO2019A");
  const others = make("FI", EARLIER_BUILD, Math.max(1, Math.floor(options.devices / 2)), "FI2019A");
  await importFleet(cp.db, config, {
    name: "demo-factory.json",
    text: JSON.stringify({
      version: 1,
      models: [{ id: MODEL, name: "The incident's phone", warrantyMonths: 24 }],
      variants: [
        { id: "00WW", model: MODEL, region: "global", description: "worldwide" },
        { id: "00CN", model: MODEL, region: "cn", description: "China" },
      ],
      builds: [
        { number: EARLIER_BUILD, model: MODEL, variant: "00WW", releasedAt: null },
        { number: INCIDENT_BUILD.number, model: MODEL, variant: "00WW", releasedAt: null },
      ],
      batches: [
        batchOf(BATCH, "NO", INCIDENT_BUILD.number, affected.length),
        batchOf(OTHER_BATCH, "FI", EARLIER_BUILD, others.length),
      ],
      devices: [
        ...affected.map((d) => ({ ...deviceOf(d), batch: BATCH })),
        ...others.map((d) => ({ ...deviceOf(d), batch: OTHER_BATCH })),
      ],
    }),
  });
  say(`   batch ${BATCH}: ${affected.length} phones sold in Norway, build ${INCIDENT_BUILD.number}`);
  say(
    `   batch ${OTHER_BATCH}: ${others.length} phones sold in Finland, build ${EARLIER_BUILD} (not affected)`,
  );

  // 2. The release gate.
  step(2, `The release gate checks build ${INCIDENT_BUILD.number}`);
  const sbom = JSON.parse(buildSbom(INCIDENT_BUILD)) as object;
  const registered = await api<{
    verdict: { passed: boolean; findings: { code: string; message: string }[] };
  }>("PUT", `/v1/builds/${INCIDENT_BUILD.number}`, {
    model: MODEL,
    variant: "00WW",
    lineage: "00WW_3_39B",
    sbom,
  });
  const worldwide = registered.verdict;
  say(`   for ${MODEL}/00WW (region global): ${worldwide.passed ? "PASSED" : "BLOCKED"}`);
  for (const f of worldwide.findings) say(`     - ${f.code}: ${f.message}`);
  const china = await api<{ passed: boolean }>("POST", "/v1/release-checks", {
    variant: `${MODEL}/00CN`,
    sbom,
  });
  say(`   the same SBOM for ${MODEL}/00CN (region cn): ${china.passed ? "PASSED" : "BLOCKED"}`);
  const { build: forced } = await api<{ build: { releaseForced: { reason: string } | null } }>(
    "POST",
    `/v1/builds/${INCIDENT_BUILD.number}/release`,
    { force: { reason: "forced for the demo: this is how the incident's build shipped" } },
  );
  say(`   forced through for the demo; the reason is kept with the build: "${forced.releaseForced?.reason}"`);

  // 3. First boot.
  step(3, "First boot: the China client tries to send the phones home to China");
  const cnDescriptor = descriptorOf(region("cn"));
  const sdkRefused: Record<string, number> = {};
  const collectorRefused: Record<string, number> = {};
  const queues = join(options.dir, "devices");
  mkdirSync(queues, { recursive: true });
  const client = (d: DeviceIdentity, label: string) =>
    new PhoneHomeClient({
      identity: d,
      queueDir: join(queues, `${d.serial}-${label}`),
      retry: { baseMs: 5, maxMs: 20, maxAttempts: 2 },
    });
  for (const d of affected) {
    // Through the SDK, pointed at the cn collector: the pin refuses before anything is sent.
    await client({ ...d, home: cnDescriptor }, "china")
      .activate()
      .then(
        () => count(sdkRefused, "activated (should not happen)"),
        (error: unknown) => count(sdkRefused, isSdkError(error) ? error.code : String(error)),
      );
    // The legacy client that ignores the pin: the cn collector refuses, stores nothing, and raises an alert.
    const outcome = await legacyActivate({ ...d, home: cnDescriptor });
    count(collectorRefused, outcome.ok ? "stored (should not happen)" : outcome.code);
  }
  say(`   through the SDK: ${describe(sdkRefused)} — nothing left the phone`);
  say(`   the legacy client, ignoring the pin: the cn collector answered ${describe(collectorRefused)}`);
  const cnLedger = await ledgerOf(region("cn").url, BATCH, cp.serviceToken);
  say(`   cn collector's ledger for ${BATCH}: ${cnLedger.stored} stored, ${cnLedger.refused} refused`);
  let activatedAtHome = 0;
  for (const d of [...affected, ...others]) {
    await client(d, "sdk").activate();
    activatedAtHome += 1;
  }
  say(`   the phones' own SDK started ${activatedAtHome} warranties in their home region, global`);

  // 4. The incident.
  step(4, "The collectors' misrouting alert opens an incident");
  const sweep = await api<{ opened: Incident[] }>("POST", "/v1/incidents/sweep");
  const incident = sweep.opened[0];
  if (incident === undefined) throw new Error("the sweep opened no incident");
  say(`   ${incident.id}: ${incident.title}`);
  say(
    `   affected: ${incident.devices.total} devices of batch ${incident.scope.batches.join(", ")}, build ${incident.scope.builds.join(", ")}`,
  );
  say(`   data involved: ${incident.dataCategories.join(", ")}`);
  say(`   where it went: ${incident.destinations.map((d) => d.name).join(", ")}`);
  const notice = await api<{ id: string; regions: Record<string, { devices?: number }> }>(
    "POST",
    `/v1/incidents/${incident.id}/notices`,
    {
      title: "Your phone tried to send its identifiers to a server in China",
      body:
        `Software build ${INCIDENT_BUILD.number} contained a registration client meant for phones sold in China. ` +
        "It tried to send your phone's IMEI, SIM numbers and cell location; the server refused and stored nothing. " +
        `Install build ${FIXED_BUILD.number}, which removes it.`,
    },
  );
  const noticesSent = Object.values(notice.regions).reduce((n, r) => n + (r.devices ?? 0), 0);
  say(
    `   notice ${notice.id} handed to the home region for ${noticesSent} devices; they get it at their next check-in`,
  );

  // 5. The fix, in stages.
  step(5, `The fixed build ${FIXED_BUILD.number} passes the gate and is released in stages`);
  const fixedBuild = await api<{ verdict: { passed: boolean } }>("PUT", `/v1/builds/${FIXED_BUILD.number}`, {
    model: MODEL,
    variant: "00WW",
    lineage: "00WW_3_39B",
    sbom: JSON.parse(buildSbom(FIXED_BUILD)) as object,
  });
  say(`   gate for ${MODEL}/00WW: ${fixedBuild.verdict.passed ? "PASSED" : "BLOCKED"}`);
  await api("POST", `/v1/builds/${FIXED_BUILD.number}/release`, {});
  const rollout = await api<{ id: number; stages: number[] }>("POST", "/v1/rollouts", {
    build: FIXED_BUILD.number,
    stages: [25, 50, 100],
    failureThreshold: 0.2,
    minReports: 5,
  });
  await api("POST", "/v1/advisories", {
    id: ADVISORY,
    title: "A Norway batch shipped with the China variant's self-registration client",
    description:
      "Build 00WW_3_39B_SP02 of one Norway batch carried com.qualcomm.qti.autoregistration, which tries to send IMEI, SIM numbers and cell location in plain HTTP to zzhc.vnet.cn.",
    affects: [{ model: MODEL, variant: "00WW" }],
    fixes: [FIXED_BUILD.number],
  });
  await api("PATCH", `/v1/incidents/${incident.id}`, { advisory: ADVISORY });
  say(`   advisory ${ADVISORY} names ${FIXED_BUILD.number} as the fix and is linked to ${incident.id}`);

  const running = new Map(affected.map((d) => [d.serial, d.build]));
  const clients = new Map(affected.map((d) => [d.serial, client(d, "sdk")]));
  let shownOnDevices = 0;
  const stages: DemoFacts["rollout"] = [];
  const today = new Date().toISOString().slice(0, 10);
  for (const [index, percentage] of rollout.stages.entries()) {
    if (index > 0) await api("POST", `/v1/rollouts/${rollout.id}/advance`);
    await new Promise((resolve) => setTimeout(resolve, PLAN_CACHE_MS + 50)); // the regions' plan is a second old at most
    let offered = 0;
    let installed = 0;
    for (const d of affected) {
      const c = clients.get(d.serial) as PhoneHomeClient;
      const answer = await c.checkForUpdate(running.get(d.serial));
      shownOnDevices += answer.notices.length;
      if (answer.update === null) continue;
      offered += 1;
      await c.reportUpdate(answer.update.build, "installed");
      running.set(d.serial, answer.update.build);
      installed += 1;
      await c.checkForUpdate(answer.update.build); // the first check-in on the new build
    }
    const adoption = await api<{ days: { day: string; batch: string; share: number }[] }>(
      "GET",
      `/v1/adoption?advisory=${ADVISORY}&since=${today}`,
    );
    const share = adoption.days.find((d) => d.batch === BATCH && d.day === today)?.share ?? 0;
    stages.push({ stage: index + 1, percentage, offered, installed, adoption: share });
    say(
      `   stage ${index + 1} (${percentage} %): ${offered} offered, ${installed} installed; ` +
        `${(share * 100).toFixed(0)} % of ${BATCH}'s active devices now run a fixed build`,
    );
  }
  const read = await api<Incident>("GET", `/v1/incidents/${incident.id}`);
  const delivered = read.notices[0]?.delivery?.delivered ?? 0;
  say(
    `   notices: ${delivered} of ${noticesSent} delivered at check-in; ${shownOnDevices} shown to owners through the SDK`,
  );

  // 6. Is my device fixed?
  step(6, "Owners ask: is my device fixed?");
  const lookup: Record<string, string> = {};
  for (const build of [INCIDENT_BUILD.number, FIXED_BUILD.number, "00WW_9_99Z_SP01"]) {
    const answer = (await (await fetch(`${cp.url}/v1/lookup/${build}`)).json()) as { status: string };
    lookup[build] = answer.status;
    say(`   ${build}: ${answer.status}`);
  }

  // 7. The regulator report.
  step(7, "The regulator report is written");
  const report = await api<IncidentReport>("GET", `/v1/incidents/${incident.id}/report`);
  const reportDir = join(options.dir, "report");
  mkdirSync(reportDir, { recursive: true });
  const markdown = join(reportDir, `${incident.id}.md`);
  const json = join(reportDir, `${incident.id}.json`);
  writeFileSync(markdown, reportMarkdown(report));
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  const noticesDelivered = report.notices.reduce((n, x) => n + x.delivered, 0);
  const adoption = report.measures.adoption?.share ?? 0;
  say(
    `   ${report.devices.total} devices in ${report.devices.markets.map((m) => m.market).join(", ")}; ${report.timeline.length} timeline entries`,
  );
  say(
    `   stored from the batch: ${report.storage.regions.map((r) => `${r.region} ${r.stored}`).join(", ")} ` +
      `(cn refused ${report.storage.regions.find((r) => r.region === "cn")?.refused ?? 0})`,
  );
  say(
    `   measures: gate ${report.measures.builds.map((b) => `${b.number} ${b.gate}`).join(", ")}; adoption ${(adoption * 100).toFixed(0)} %; ${noticesDelivered} notices delivered`,
  );
  say(`   written to ${markdown} and ${json}`);

  return {
    batch: BATCH,
    devices: affected.length,
    gate: {
      worldwide: {
        passed: worldwide.passed,
        findings: [...new Set(worldwide.findings.map((f) => f.code))].sort(),
      },
      china: { passed: china.passed },
      releasedDespiteGate: forced.releaseForced !== null,
      fixedBuildPassed: fixedBuild.verdict.passed,
    },
    activation: { sdkRefused, collectorRefused, cnLedger, activatedAtHome },
    incident: {
      id: incident.id,
      source: incident.source,
      batches: incident.scope.batches,
      builds: incident.scope.builds,
      devices: incident.devices.total,
      dataCategories: incident.dataCategories,
    },
    rollout: stages,
    notices: { sent: noticesSent, shownOnDevices, delivered },
    lookup,
    report: {
      markdown,
      json,
      stored: report.storage.stored,
      refused: report.storage.refused,
      noticesDelivered,
      adoption,
    },
  };
}

function batchOf(id: string, market: string, build: string, size: number) {
  return { id, model: MODEL, variant: "00WW", market, build, producedAt: "2019-03-01T08:00:00Z", size };
}

function deviceOf(d: DeviceIdentity) {
  return { serial: d.serial, model: d.model, variant: d.variant, market: d.market, publicKey: d.publicKey };
}

function count(tally: Record<string, number>, key: string): void {
  tally[key] = (tally[key] ?? 0) + 1;
}

function describe(tally: Record<string, number>): string {
  return Object.entries(tally)
    .map(([k, v]) => `${v} × ${k}`)
    .join(", ");
}

async function ledgerOf(
  url: string,
  batch: string,
  serviceToken: string,
): Promise<{ stored: number; refused: number }> {
  const response = await fetch(`${url}/v1/ledger/totals?since=2000-01-01T00:00:00Z&batches=${batch}`, {
    headers: { authorization: `Bearer ${serviceToken}` },
    signal: AbortSignal.timeout(30_000),
  });
  const rows = ((await response.json()) as { rows: LedgerTotal[] }).rows;
  const sum = (outcome: string) => rows.filter((r) => r.outcome === outcome).reduce((n, r) => n + r.count, 0);
  return { stored: sum("stored"), refused: sum("refused") };
}
