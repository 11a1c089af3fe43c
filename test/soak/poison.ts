/**
 * Hostile requests for the soak: unsigned envelopes with values PostgreSQL or
 * the calendar refuse, bodies that are not JSON or too large, NULs in paths,
 * sign-ins with wrong passwords. None may get a 5xx other than 503, and none
 * may fail a real device's write.
 */
import { randomUUID } from "node:crypto";

const HOSTILE_STRINGS = [
  "a\u0000b",
  "\u0000",
  "\ud800",
  "x".repeat(70_000),
  "2026-02-30",
  "2016-12-31T23:59:60Z",
  "2026-02-30T25:61:61Z",
  "../../etc/passwd",
  "%00",
];
const HOSTILE_NUMBERS = [3_000_000_000, -1, 1e308, 0.5, Number.MAX_SAFE_INTEGER + 2];

/** One hostile request to `base`: its URL and `fetch` options. */
export function poisonRequest(random: () => number, base: string): { url: string; init: RequestInit } {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const envelope: Record<string, unknown> = {
    v: 1,
    collection: "activation",
    schemaVersion: 1,
    eventId: randomUUID(),
    device: `dk_${"A".repeat(27)}`,
    region: "global",
    kid: `rk_${"A".repeat(27)}`,
    build: "00WW_3_39B_SP03",
    sentAt: new Date().toISOString(),
    enc: "A".repeat(43),
    ct: "A".repeat(64),
    sig: "A".repeat(86),
  };
  const field = pick(Object.keys(envelope));
  envelope[field] = random() < 0.5 ? pick(HOSTILE_STRINGS) : pick(HOSTILE_NUMBERS);
  const json = { "content-type": "application/json" };
  const kinds: (() => { url: string; init: RequestInit })[] = [
    () => ({
      url: `${base}/v1/activations`,
      init: { method: "POST", headers: json, body: JSON.stringify(envelope) },
    }),
    () => ({
      url: `${base}/v1/diagnostics`,
      init: { method: "POST", headers: json, body: JSON.stringify(envelope) },
    }),
    () => ({ url: `${base}/v1/activations`, init: { method: "POST", headers: json, body: '{"v":1,' } }),
    () => ({
      url: `${base}/v1/activations`,
      init: { method: "POST", headers: { "content-type": "text/xml" }, body: "<a/>" },
    }),
    () => ({
      url: `${base}/v1/diagnostics`,
      init: { method: "POST", headers: json, body: JSON.stringify({ ...envelope, ct: "A".repeat(200_000) }) },
    }),
    () => ({ url: `${base}/v1/lookup/${pick(["%00", "%ff", "a%00b", "%2e%2e"])}`, init: { method: "GET" } }),
    () => ({
      url: `${base}/portal/${pick(["..%2f..%2fpackage.json", "index.html%00.png", "%2e%2e/%2e%2e/etc/passwd"])}`,
      init: { method: "GET" },
    }),
    () => ({
      url: `${base}/v1/sessions`,
      init: {
        method: "POST",
        headers: json,
        body: JSON.stringify({ username: pick(HOSTILE_STRINGS), password: "wrong password!" }),
      },
    }),
  ];
  return pick(kinds)();
}
