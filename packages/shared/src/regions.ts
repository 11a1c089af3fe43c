/**
 * Where data lives: the regions the control plane lists, what a collector
 * announces to devices, and what the portal is told of the deployment.
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** One data-residency region: where it stores data and where its collector answers. */
export const RegionView = T.Object({
  id: T.String(),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where the region stores data" }),
  url: T.String({ description: "the region collector's base URL" }),
});
export type Region = Static<typeof RegionView>;

/** Which region holds the data of devices sold in each market (ISO 3166-1 alpha-2). */
export const MarketPolicyView = T.Object({
  markets: T.Record(T.String(), T.String(), {
    description: "markets whose devices belong to a named region",
  }),
  default: T.String({ description: "region of every other market" }),
});
export type MarketPolicy = Static<typeof MarketPolicyView>;

/** `GET /v1/regions`: the regions and the market-to-region policy. */
export const RegionsView = T.Object({
  regions: T.Array(RegionView),
  policy: MarketPolicyView,
});
export type RegionList = Static<typeof RegionsView>;

/** `/portal/config.json`: where the portal finds the control plane of the deployment serving it. */
export const PortalConfigView = T.Object({ controlPlane: T.String() });
export type PortalConfig = Static<typeof PortalConfigView>;

/** What a collector takes in one request; live, so they may differ between deployments and over time. */
export const CollectorLimitsView = T.Object(
  {
    maxBodyBytes: T.Integer({
      minimum: 1,
      description: "largest request body this collector reads, in bytes; a larger one is refused 413",
    }),
    maxDiagnosticsEvents: T.Integer({
      minimum: 1,
      description: "most events one diagnostics envelope may carry",
    }),
  },
  {
    description:
      "what this collector takes in one request; a device seals batches that fit (the SDK measures the envelope)",
  },
);
export type CollectorLimits = Static<typeof CollectorLimitsView>;

/** `GET /v1/region`: which region a device talks to, the key to seal to, the policy and the limits. */
export const RegionAnnouncementView = T.Object({
  region: T.String({ description: "region id" }),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where this region stores data" }),
  kid: T.String({
    description: "id of the region key to seal to now: of the keys in force, the one that started last",
  }),
  publicKey: T.String({ description: "X25519 public key of that key, raw, base64url" }),
  descriptor: T.Union([T.String({ maxLength: 16_384 }), T.Null()], {
    description:
      "the region descriptor signed by the fleet root in use (compact JWS, typ phonehome-region+jws): every key of the region that has not ended, with its validity; null until the first is published (a production start without the embedded root: `phonehome keys publish`)",
  }),
  rootChain: T.Array(T.String({ maxLength: 16_384 }), {
    maxItems: 8,
    description:
      "rollover links (compact JWS, typ phonehome-root+jws) from the roots devices got at the factory to the root that signed the descriptor, in order; empty until a root rolls over",
  }),
  suite: T.String({ description: "HPKE suite" }),
  policy: T.Object(MarketPolicyView.properties, {
    description:
      "the market-to-region policy every collector enforces; devices check their own market against it",
  }),
  limits: CollectorLimitsView,
});
export type RegionAnnouncement = Static<typeof RegionAnnouncementView>;
