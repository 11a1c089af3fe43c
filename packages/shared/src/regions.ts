/** Where data lives: the regions the control plane lists, and what the portal is told of the deployment. */
import { type Static, Type as T } from "@sinclair/typebox";

/** One data-residency region: where it stores data and where its collector answers. */
export const RegionView = T.Object({
  id: T.String(),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where the region stores data" }),
  url: T.String({ description: "the region collector's base URL" }),
});
export type Region = Static<typeof RegionView>;

/** `GET /v1/regions`: the regions and the market-to-region policy. */
export const RegionsView = T.Object({
  regions: T.Array(RegionView),
  policy: T.Object({
    markets: T.Record(T.String(), T.String(), {
      description: "markets whose devices belong to a named region",
    }),
    default: T.String({ description: "region of every other market" }),
  }),
});
export type RegionList = Static<typeof RegionsView>;

/** `/portal/config.json`: where the portal finds the control plane of the deployment serving it. */
export const PortalConfigView = T.Object({ controlPlane: T.String() });
export type PortalConfig = Static<typeof PortalConfigView>;
