/**
 * `phonehome simulate`: a factory run and a launch day in miniature. A fleet
 * is made (key pairs, batches per market), registered with the control plane
 * as a factory station would, and every device is switched on through the real
 * SDK and HTTP. Optionally some devices repeat the incident: they are
 * provisioned with another region's descriptor, and, with `legacyClient`, send
 * without the SDK's checks, as the wrong activation client did.
 */
import type { RegionList } from "@phonehome/shared";
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  type DeviceIdentity,
  ed25519PrivateKey,
  isSdkError,
  PhoneHomeClient,
  type RegionDescriptor,
  type RootKey,
  sealEnvelope,
} from "@phonehome/sdk";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { demoIdentities, generateDemoFleet } from "../../control-plane/fleet/index.ts";

/** What to simulate. */
export interface SimulationOptions {
  controlPlaneUrl: string;
  /** The service token a factory station presents to register devices. */
  serviceToken: string;
  /** The fleet roots the factory gives devices (the fleet trust's), never taken from the network. */
  roots: readonly RootKey[];
  devices: number;
  markets: readonly string[];
  /** How many devices (of markets outside China's region, first ones first) get another region's descriptor. */
  wrongRegion: number;
  /** Whether those devices send without the SDK's checks (the incident's client). */
  legacyClient: boolean;
  /** Devices switched on at once. */
  concurrency: number;
  /** Scratch folder for the devices' queues; removed afterwards. */
  workDir: string;
  onProgress?: (done: number, total: number) => void;
}

/** What happened, by outcome. */
export interface SimulationSummary {
  devices: number;
  /** Activations stored, by region. */
  activated: Record<string, number>;
  /** Activations answered as repeats. */
  replayed: number;
  /** Refusals by code: `sdk.*` refused on the device, other codes by a collector. */
  refused: Record<string, number>;
  /** Devices whose activation is still queued (collector unreachable). */
  offline: number;
  /** Batches registered, with their market, build and home region. */
  batches: { id: string; market: string; build: string; region: string; devices: number }[];
  /** Devices provisioned with another region's descriptor, by serial. */
  wrongRegionSerials: string[];
  /** Every device, for checks after the run: serial, key id, market. */
  fleet: { serial: string; keyId: string; market: string }[];
}

async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new PhoneHomeError(
      "service.unavailable",
      `cannot reach ${new URL(url).origin}: start phonehome first (npm start), or name its configuration with --config`,
      { cause: error },
    );
  }
  const body = (await response.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
  if (!response.ok) {
    throw new PhoneHomeError(
      "service.unavailable",
      `${url} answered ${response.status}: ${body.error?.code ?? ""} ${body.error?.message ?? ""}`.trim(),
    );
  }
  return body;
}

/** Runs a simulation against a running system; resolves with the summary. */
export async function runSimulation(options: SimulationOptions): Promise<SimulationSummary> {
  const list = await getJson<RegionList>(new URL("/v1/regions", options.controlPlaneUrl).href);
  const descriptors = new Map<string, RegionDescriptor>();
  for (const region of list.regions) {
    const announced = await getJson<{ kid: string; publicKey: string }>(`${region.url}/v1/region`);
    descriptors.set(region.id, {
      region: region.id,
      storedIn: region.storedIn,
      url: region.url,
      kid: announced.kid,
      publicKey: announced.publicKey,
    });
  }
  const regionOf = (market: string) => list.policy.markets[market] ?? list.policy.default;
  const fleet = generateDemoFleet({
    devices: options.devices,
    markets: options.markets,
    regionOfMarket: regionOf,
  });
  await getJson(new URL("/v1/fleet/imports", options.controlPlaneUrl).href, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${options.serviceToken}` },
    body: JSON.stringify(fleet.factory),
  });

  // The incident: the first `wrongRegion` devices outside China's region get another region's descriptor.
  const wrong = new Set<string>();
  const identities = demoIdentities(
    fleet,
    (device) => {
      const home = regionOf(device.market);
      const other = list.regions.find((r) => r.id !== home);
      if (wrong.size < options.wrongRegion && home !== "cn" && other) {
        wrong.add(device.serial);
        return descriptors.get(other.id);
      }
      return descriptors.get(home);
    },
    options.roots,
  );
  if (identities.length !== fleet.factory.devices.length)
    throw new Error("a device has no keys or no region");

  const summary: SimulationSummary = {
    devices: identities.length,
    activated: {},
    replayed: 0,
    refused: {},
    offline: 0,
    batches: fleet.factory.batches.map((b) => ({
      id: b.id,
      market: b.market,
      build: b.build,
      region: regionOf(b.market),
      devices: fleet.factory.devices.filter((d) => d.batch === b.id).length,
    })),
    wrongRegionSerials: [...wrong],
    fleet: identities.map((d) => ({ serial: d.serial, keyId: d.keyId, market: d.market })),
  };
  const count = (table: Record<string, number>, key: string) => {
    table[key] = (table[key] ?? 0) + 1;
  };

  mkdirSync(options.workDir, { recursive: true });
  let next = 0;
  let done = 0;
  const switchOn = async (device: DeviceIdentity) => {
    if (options.legacyClient && wrong.has(device.serial)) {
      const outcome = await legacyActivate(device);
      if (outcome.ok) count(summary.activated, device.home.region);
      else count(summary.refused, outcome.code);
      return;
    }
    const client = new PhoneHomeClient({
      identity: device,
      queueDir: join(options.workDir, device.serial),
      retry: { baseMs: 50, maxMs: 2_000, maxAttempts: 5 },
    });
    try {
      const answer = (await client.activate()) as { activation?: { region?: string }; replayed?: boolean };
      if (answer.replayed) summary.replayed += 1;
      else count(summary.activated, answer.activation?.region ?? device.home.region);
    } catch (error) {
      if (isSdkError(error, "sdk.offline")) summary.offline += 1;
      else if (isSdkError(error, "sdk.rejected"))
        count(summary.refused, error.server?.code ?? "sdk.rejected");
      else if (isSdkError(error)) count(summary.refused, error.code);
      else throw error;
    }
  };
  const worker = async () => {
    while (next < identities.length) {
      const device = identities[next++] as DeviceIdentity;
      await switchOn(device);
      done += 1;
      options.onProgress?.(done, identities.length);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(options.concurrency, identities.length)) }, worker),
    );
  } finally {
    rmSync(options.workDir, { recursive: true, force: true });
  }
  return summary;
}

/** The incident's client: seals to whatever descriptor it carries and posts, with no region checks. */
export async function legacyActivate(
  device: DeviceIdentity,
): Promise<{ ok: true } | { ok: false; code: string }> {
  const envelope = await sealEnvelope(
    {
      v: 1,
      collection: "activation",
      schemaVersion: 1,
      eventId: randomUUID(),
      device: device.keyId,
      region: device.home.region,
      kid: device.home.kid,
      build: device.build,
      sentAt: new Date().toISOString(),
    },
    {
      serial: device.serial,
      model: device.model,
      variant: device.variant,
      market: device.market,
      build: device.build,
      activatedAt: new Date().toISOString(),
    },
    device.home.publicKey,
    ed25519PrivateKey(device.privateKey, device.publicKey),
  );
  const response = await fetch(`${device.home.url}/v1/activations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(envelope),
  });
  if (response.ok) return { ok: true };
  const body = (await response.json().catch(() => ({}))) as { error?: { code?: string } };
  return { ok: false, code: body.error?.code ?? `http.${response.status}` };
}
