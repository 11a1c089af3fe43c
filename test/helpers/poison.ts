/**
 * Poison a hostile client sends to a collector, for the poison-load test and
 * the soak: envelopes of a provisioned device tampered with (so unsigned or
 * mis-signed) or signed with payloads the store or the calendar cannot take.
 */
import { randomUUID } from "node:crypto";
import type { DeviceIdentity } from "@phonehome/sdk";
import { activationPayload, buildEnvelope, diagnosticsBatch } from "./envelopes.ts";

/** An envelope of `device`'s as the SDK would send it, then changed by `change` (so unsigned, or mis-signed). */
export async function tampered(
  device: DeviceIdentity,
  change: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  return { ...(await buildEnvelope(device)), ...change };
}

/**
 * The kinds of poison a hostile client sends, each a function of a request
 * number (so they differ): unsigned junk with out-of-range numbers, NUL,
 * impossible dates, oversize and mistyped fields; and signed envelopes of a
 * provisioned device whose payloads carry the same.
 */
export function poisons(device: DeviceIdentity): ((n: number) => Promise<{ path: string; body: unknown }>)[] {
  const activations = "/v1/activations";
  const diagnostics = "/v1/diagnostics";
  const signedDiagnostics = async (events: unknown[]) => ({
    path: diagnostics,
    body: await buildEnvelope(device, {
      header: { collection: "uep.diagnostics" },
      payload: { events },
    }),
  });
  const event = (at: string, data: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    at,
    data: { ...diagnosticsBatch(device, 1).events[0]?.data, ...data },
  });
  return [
    async () => ({ path: activations, body: await tampered(device, { schemaVersion: 3_000_000_000 }) }),
    // Its ledger row is one the store refuses in the load test (see there).
    async () => ({ path: activations, body: await tampered(device, { build: "POISON_BUILD", sig: "x" }) }),
    async (n) => ({ path: activations, body: await tampered(device, { build: `00WW\u0000${n}` }) }),
    async (n) => ({ path: diagnostics, body: await tampered(device, { collection: `uep\u0000${n}` }) }),
    async () => ({ path: activations, body: await tampered(device, { sentAt: "2026-02-30T25:61:61Z" }) }),
    async () => ({ path: diagnostics, body: await tampered(device, { sentAt: "2016-12-31T23:59:60Z" }) }),
    async (n) => ({ path: activations, body: await tampered(device, { build: "B".repeat(5000 + n) }) }),
    async () => ({ path: activations, body: await tampered(device, { schemaVersion: -1e308, v: "1" }) }),
    async () => ({ path: diagnostics, body: { collection: ["uep.diagnostics"], schemaVersion: 1.5 } }),
    async (n) => ({ path: activations, body: await tampered(device, { [`x\u0000${n}`]: "\ud800" }) }),
    async () => signedDiagnostics([event("2016-12-31T23:59:60Z")]),
    async () => signedDiagnostics([event("2026-02-30T10:00:00Z")]),
    async () => signedDiagnostics([event(new Date().toISOString(), { crashCount: 2 ** 62 })]),
    async () => signedDiagnostics([event(new Date().toISOString(), { "build\u0000": "x" })]),
    async () => ({
      path: activations,
      body: await buildEnvelope(device, {
        payload: { ...activationPayload(device), activatedAt: "0000-01-01T00:00:00Z" },
      }),
    }),
    async () => ({
      path: activations,
      body: await buildEnvelope(device, { payload: { ...activationPayload(device), serial: "S\u0000" } }),
    }),
  ];
}
