/** Hand-built envelopes, for tests that must do what the SDK refuses to (the incident's legacy client, attacks). */
import { randomUUID } from "node:crypto";
import {
  type DeviceIdentity,
  type Envelope,
  type EnvelopeHeader,
  ed25519PrivateKey,
  type RegionDescriptor,
  sealEnvelope,
} from "@phonehome/sdk";

/** The activation v1 payload a device would send. */
export function activationPayload(device: DeviceIdentity, at = new Date()): Record<string, unknown> {
  return {
    serial: device.serial,
    model: device.model,
    variant: device.variant,
    market: device.market,
    build: device.build,
    activatedAt: at.toISOString(),
  };
}

/** Seals `payload` to `to` (default: the device's home) and signs it with the device key. */
export async function buildEnvelope(
  device: DeviceIdentity,
  options: { payload?: unknown; header?: Partial<EnvelopeHeader>; to?: RegionDescriptor } = {},
): Promise<Envelope> {
  const to = options.to ?? device.home;
  const header: EnvelopeHeader = {
    v: 1,
    collection: "activation",
    schemaVersion: 1,
    eventId: randomUUID(),
    device: device.keyId,
    region: to.region,
    kid: to.kid,
    build: device.build,
    sentAt: new Date().toISOString(),
    ...options.header,
  };
  return sealEnvelope(
    header,
    options.payload ?? activationPayload(device),
    to.publicKey,
    ed25519PrivateKey(device.privateKey, device.publicKey),
  );
}

/** POSTs a JSON body (or raw text) and returns status and parsed body. */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<{
  status: number;
  body: { error?: { code: string; message: string; path?: string } } & Record<string, unknown>;
}> {
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/** A `uep.diagnostics` batch of `n` events as a device seals it, a minute apart, the last a minute ago; `extra` goes into event 1. */
export function diagnosticsBatch(device: DeviceIdentity, n: number, extra: Record<string, unknown> = {}) {
  return {
    events: Array.from({ length: n }, (_, i) => ({
      id: randomUUID(),
      at: new Date(Date.now() - (n - i) * 60_000).toISOString(),
      data: {
        build: device.build,
        batteryHealthPercent: 97,
        batteryCycles: 123,
        crashCount: i,
        anrCount: 0,
        thermalEvents: 1,
        ...(i === 1 ? extra : {}),
      },
    })),
  };
}
