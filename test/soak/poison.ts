/**
 * Hostile requests for the soak: the poison-load test's envelopes (tampered
 * or signed with payloads the store or the calendar cannot take, from a
 * provisioned device of their own), and what the HTTP layer must refuse —
 * bodies that are not JSON or too large, wrong media types, NULs and
 * traversal in paths, sign-ins with hostile names. None may get a 5xx other
 * than 503, and none may fail a real device's write.
 */
import type { DeviceIdentity } from "@phonehome/sdk";
import { HOSTILE_STRINGS } from "../helpers/fuzz.ts";
import { poisons } from "../helpers/poison.ts";

/** A hostile request: its URL and `fetch` options. */
export interface PoisonRequest {
  url: string;
  init: RequestInit;
}

/** Makes hostile requests for the collectors at `collectors` and the control plane at `controlPlane`. */
export function poisonMaker(
  attacker: DeviceIdentity,
  collectors: readonly string[],
  controlPlane: string,
): (random: () => number, n: number) => Promise<PoisonRequest> {
  const envelopes = poisons(attacker);
  const json = { "content-type": "application/json" };
  return async (random, n) => {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    const collector = pick(collectors);
    const http: (() => PoisonRequest)[] = [
      () => ({
        url: `${collector}/v1/activations`,
        init: { method: "POST", headers: json, body: '{"v":1,' },
      }),
      () => ({
        url: `${collector}/v1/activations`,
        init: { method: "POST", headers: { "content-type": "text/xml" }, body: "<a/>" },
      }),
      () => ({
        url: `${collector}/v1/diagnostics`,
        init: { method: "POST", headers: json, body: JSON.stringify({ ct: "A".repeat(200_000) }) },
      }),
      () => ({ url: `${collector}/v1/lookup/${pick(["%00", "%ff", "a%00b", "%2e%2e", "%"])}`, init: {} }),
      () => ({
        url: `${pick([collector, controlPlane])}/portal/${pick(["..%2f..%2fpackage.json", "index.html%00.png", "%2e%2e/%2e%2e/etc/passwd"])}`,
        init: {},
      }),
      () => ({
        url: `${controlPlane}/v1/sessions`,
        init: {
          method: "POST",
          headers: json,
          body: JSON.stringify({ username: pick(HOSTILE_STRINGS), password: "not the password" }),
        },
      }),
    ];
    if (random() < 0.5) return pick(http)();
    const { path, body } = await pick(envelopes)(n);
    return {
      url: `${collector}${path}`,
      init: { method: "POST", headers: json, body: JSON.stringify(body) },
    };
  };
}
