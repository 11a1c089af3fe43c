/** `GET /v1/region`: which region a device is talking to, and the key to seal to. */
import { Type as T } from "@sinclair/typebox";
import type { App } from "../http/service.ts";

/** The suite every region key uses (RFC 9180 names). */
export const HPKE_SUITE = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM";

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
});

/** Registers the region descriptor endpoint. */
export function registerRegionRoutes(
  app: App,
  region: { id: string; storedIn: string; kid: string; publicKey: string },
  policy: { markets: Readonly<Record<string, string>>; default: string },
): void {
  const view = {
    region: region.id,
    storedIn: region.storedIn,
    kid: region.kid,
    publicKey: region.publicKey,
    suite: HPKE_SUITE,
    policy: { markets: { ...policy.markets }, default: policy.default },
  };
  app.get(
    "/v1/region",
    {
      schema: {
        summary: "Describe this region",
        description:
          "A device compares this with the region descriptor provisioned at the factory before it sends.",
        tags: ["region"],
        response: { 200: RegionView },
      },
    },
    async () => view,
  );
}
