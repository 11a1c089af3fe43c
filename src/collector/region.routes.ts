/**
 * `GET /v1/region`: which region a device is talking to, the key to seal to,
 * and the limits of what this collector takes, so that a device sizes its
 * messages to fit instead of learning them from a refusal.
 */
import { Type as T } from "@sinclair/typebox";
import type { App } from "../core/http/index.ts";

/** The suite every region key uses (RFC 9180 names). */
export const HPKE_SUITE = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM";

/** What this collector takes in one request; live, so they may differ between deployments and over time. */
export interface CollectorLimits {
  /** Largest request body, in bytes (`ingest.maxBodyBytes`). */
  maxBodyBytes: number;
  /** Most events one diagnostics envelope may carry. */
  maxDiagnosticsEvents: number;
}

const Limits = T.Object(
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

const RegionView = T.Object({
  region: T.String({ description: "region id" }),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where this region stores data" }),
  kid: T.String({ description: "id of the current region key" }),
  publicKey: T.String({ description: "X25519 public key, raw, base64url" }),
  suite: T.String({ description: "HPKE suite" }),
  policy: T.Object(
    {
      markets: T.Record(T.String(), T.String(), {
        description: "markets whose devices belong to a named region",
      }),
      default: T.String({ description: "region of every other market" }),
    },
    {
      description:
        "the market-to-region policy every collector enforces; devices check their own market against it",
    },
  ),
  limits: Limits,
});

/** Registers the region descriptor endpoint. */
export function registerRegionRoutes(
  app: App,
  region: { id: string; storedIn: string; kid: string; publicKey: string },
  policy: { markets: Readonly<Record<string, string>>; default: string },
  limits: CollectorLimits,
): void {
  const view = {
    region: region.id,
    storedIn: region.storedIn,
    kid: region.kid,
    publicKey: region.publicKey,
    suite: HPKE_SUITE,
    policy: { markets: { ...policy.markets }, default: policy.default },
    limits: { maxBodyBytes: limits.maxBodyBytes, maxDiagnosticsEvents: limits.maxDiagnosticsEvents },
  };
  app.get(
    "/v1/region",
    {
      schema: {
        summary: "Describe this region",
        description:
          "A device compares this with the region descriptor provisioned at the factory before it sends, " +
          "and sizes what it sends to the limits announced here. Nothing here is secret.",
        tags: ["region"],
        response: { 200: RegionView },
      },
    },
    async () => view,
  );
}
