/**
 * `GET /v1/region`: which region a device is talking to, the key to seal to
 * now, the descriptor the fleet root signed over every key of the region that
 * has not ended (and the root chain it verifies through), and the limits of
 * what this collector takes, so that a device sizes its messages to fit
 * instead of learning them from a refusal. Read from the replica's key set at
 * each request: a rotation shows as soon as the replica has reloaded.
 */
import { type CollectorLimits, type RegionAnnouncement, RegionAnnouncementView } from "@phonehome/shared";
import type { App } from "../core/http/index.ts";

/** The suite every region key uses (RFC 9180 names). */
export const HPKE_SUITE = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM";

export type { CollectorLimits };

/** Registers the region descriptor endpoint. */
export function registerRegionRoutes(
  app: App,
  region: { id: string; storedIn: string },
  keys: {
    readonly kid: string;
    readonly publicKey: string;
    readonly descriptor: string | null;
    readonly rootChain: string[];
  },
  policy: { markets: Readonly<Record<string, string>>; default: string },
  limits: CollectorLimits,
): void {
  const view = (): RegionAnnouncement => ({
    region: region.id,
    storedIn: region.storedIn,
    kid: keys.kid,
    publicKey: keys.publicKey,
    descriptor: keys.descriptor,
    rootChain: keys.rootChain,
    suite: HPKE_SUITE,
    policy: { markets: { ...policy.markets }, default: policy.default },
    limits: { maxBodyBytes: limits.maxBodyBytes, maxDiagnosticsEvents: limits.maxDiagnosticsEvents },
  });
  app.get(
    "/v1/region",
    {
      schema: {
        summary: "Describe this region",
        description:
          "A device compares this with the region descriptor provisioned at the factory before it sends, " +
          "accepts a new key only under `descriptor` verified against the roots it got at the factory (through `rootChain`), " +
          "and sizes what it sends to the limits announced here. Nothing here is secret.",
        tags: ["region"],
        response: { 200: RegionAnnouncementView },
      },
    },
    async () => view(),
  );
}
