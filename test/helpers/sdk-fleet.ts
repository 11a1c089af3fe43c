/**
 * A fleet of SDK devices for the tests of the production shape: each device
 * activates; every other one also consents and records diagnostics events,
 * then flushes. What each device was told was stored (acknowledged) is kept,
 * so that the store can be checked afterwards: nothing acknowledged lost,
 * nothing stored twice.
 */
import { join } from "node:path";
import {
  type ClientEvent,
  createDeviceIdentity,
  type DeviceIdentity,
  type FetchLike,
  isSdkError,
  PhoneHomeClient,
  type RootKey,
} from "@phonehome/sdk";
import { listActivations } from "../../src/collector/activation/activation.repository.ts";
import { findDiagnosticsEvents } from "../../src/collector/diagnostics/index.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import type { Queryable } from "../../src/core/db/index.ts";

/** One device, and what it has been told was stored. */
export interface FleetDevice {
  identity: DeviceIdentity;
  client: PhoneHomeClient;
  diagnostics: boolean;
  activated: boolean;
  consentSent: boolean;
  recorded: number;
  ackedEvents: number;
  /** The envelopes of diagnostics batches acknowledged (each once). */
  ackedBatches: Set<string>;
}

/** Answers the devices saw, by status, and the 5xx other than 503 (with method and path). */
export interface Seen {
  answers: Map<number, number>;
  /** When each write (POST, PUT) was answered 2xx (performance.now()): a record stored and acknowledged. */
  acks: number[];
  serverErrors: string[];
  networkErrors: number;
}

/** The region a fleet's devices call home to. */
export interface Home {
  region: string;
  storedIn: string;
  url: string;
  kid: string;
  publicKey: string;
}

/** A `fetch` that counts what it was answered into `seen`. */
export function countingFetch(seen: Seen): FetchLike {
  return async (url, init) => {
    try {
      const response = await fetch(url, init);
      seen.answers.set(response.status, (seen.answers.get(response.status) ?? 0) + 1);
      if (init.method !== undefined && init.method !== "GET" && response.ok)
        seen.acks.push(performance.now());
      if (response.status >= 500 && response.status !== 503) {
        seen.serverErrors.push(`${init.method ?? "GET"} ${new URL(url).pathname} ${response.status}`);
      }
      return response;
    } catch (error) {
      seen.networkErrors += 1;
      throw error;
    }
  };
}

/**
 * Makes `count` devices of market NO (serials `<prefix>00000000`…), every
 * other one in the diagnostics programme, each calling home to `home` (or
 * the home `home(i)` gives device i).
 */
export function makeFleet(options: {
  count: number;
  prefix: string;
  home: Home | ((i: number) => Home);
  /** The fleet roots the devices trust (the fleet trust of the services' data directory). */
  roots: readonly RootKey[];
  queueDir: string;
  retryMaxMs?: number;
}): { devices: FleetDevice[]; seen: Seen; fetch: FetchLike } {
  const seen: Seen = { answers: new Map(), acks: [], serverErrors: [], networkErrors: 0 };
  const counting = countingFetch(seen);
  const homeOf = options.home;
  const devices = Array.from({ length: options.count }, (_, i) => {
    const identity = createDeviceIdentity(
      {
        serial: `${options.prefix}${String(i).padStart(8, "0")}`,
        model: "TA-1062",
        variant: "00WW",
        market: "NO",
        build: "00WW_3_39B_SP03",
      },
      typeof homeOf === "function" ? homeOf(i) : homeOf,
      options.roots,
    );
    const device: FleetDevice = {
      identity,
      diagnostics: i % 2 === 0,
      activated: false,
      consentSent: false,
      recorded: 0,
      ackedEvents: 0,
      ackedBatches: new Set(),
      client: undefined as unknown as PhoneHomeClient,
    };
    device.client = new PhoneHomeClient({
      identity,
      queueDir: join(options.queueDir, identity.serial),
      retry: { baseMs: 50, maxMs: options.retryMaxMs ?? 1000, maxAttempts: 2 },
      requestTimeoutMs: 15_000,
      fetch: counting,
      onEvent: (event: ClientEvent) => {
        if (event.type === "delivered" && event.collection === "uep.diagnostics") {
          device.ackedEvents += event.events;
          device.ackedBatches.add(event.eventId);
        }
      },
    });
    return device;
  });
  return { devices, seen, fetch: counting };
}

/**
 * Takes a device one step further: activation, then (in the programme)
 * consent, then its events one at a time with a flush after each. A collector
 * that cannot be reached (`sdk.offline`) leaves the step for a later turn.
 */
export async function step(device: FleetDevice, eventsPerDevice: number): Promise<void> {
  const { client } = device;
  try {
    if (!device.activated) {
      await client.activate();
      device.activated = true;
      return;
    }
    if (!device.diagnostics) return;
    if (!device.consentSent) {
      await client.sendConsent({
        granted: true,
        noticeVersion: 1,
        language: "en",
        method: "device-settings",
      });
      await client.setConsent("granted");
      device.consentSent = true;
      return;
    }
    if (device.recorded < eventsPerDevice) {
      const n = device.recorded;
      await client.recordEvent(
        { batteryHealthPercent: 90, batteryCycles: 100 + n, crashCount: n, anrCount: 0, thermalEvents: 0 },
        new Date(Date.now() - 60_000),
      );
      device.recorded += 1;
    }
    await client.flush();
  } catch (error) {
    if (!isSdkError(error, "sdk.offline")) throw error;
  }
}

/**
 * True when the device has done all it has to: activated and, in the
 * programme, consented and every one of its `eventsPerDevice` events delivered.
 */
export async function finished(device: FleetDevice, eventsPerDevice: number): Promise<boolean> {
  return (
    device.activated &&
    (!device.diagnostics ||
      (device.consentSent &&
        device.recorded === eventsPerDevice &&
        (await device.client.pending()) === 0 &&
        (await device.client.diagnosticsState()).held.events === 0))
  );
}

/** Steps `concurrency` devices at a time until every one has finished or `until` passes; resolves with those still open. */
export async function drive(
  devices: readonly FleetDevice[],
  eventsPerDevice: number,
  options: { concurrency: number; until: number },
): Promise<FleetDevice[]> {
  let open = [...devices];
  while (open.length > 0 && Date.now() < options.until) {
    let next = 0;
    const worker = async () => {
      while (next < open.length) {
        const device = open[next++] as FleetDevice;
        await step(device, eventsPerDevice);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const flags = await Promise.all(open.map((d) => finished(d, eventsPerDevice)));
    open = open.filter((_, i) => !flags[i]);
  }
  return open;
}

/** What the region's store holds against what the devices were told. */
export interface FleetCheck {
  /** Acknowledged activations and diagnostics events not in the store. */
  lost: number;
  /** Records stored more than once. */
  duplicated: number;
  /** Activations and events the devices made that never reached the store. */
  undelivered: number;
  activations: number;
  events: number;
  /** Diagnostics batches acknowledged, each counted once. */
  batches: number;
}

/** Reads the region's store for every device of the fleet. */
export async function checkFleet(
  db: Queryable,
  pseudonymSecret: Uint8Array,
  devices: readonly FleetDevice[],
): Promise<FleetCheck> {
  const stored = (await listActivations(db, "", devices.length * 2 + 10)).map((r) => r.deviceKey);
  const have = new Set(stored);
  let lost = devices.filter((d) => d.activated && !have.has(d.identity.keyId)).length;
  let undelivered = devices.filter((d) => !have.has(d.identity.keyId)).length;
  let duplicated = stored.length - have.size;
  let events = 0;
  let batches = 0;
  for (const device of devices.filter((d) => d.diagnostics)) {
    const ids = (await findDiagnosticsEvents(db, deviceRef(pseudonymSecret, device.identity.keyId))).map(
      (e) => e.eventId,
    );
    events += ids.length;
    batches += device.ackedBatches.size;
    duplicated += ids.length - new Set(ids).size;
    lost += Math.max(0, device.ackedEvents - ids.length);
    undelivered += Math.max(0, device.recorded - ids.length);
  }
  return { lost, duplicated, undelivered, activations: have.size, events, batches };
}
