/**
 * The data map as `GET /v1/data-map` answers it (format `json`): what is
 * collected, from which devices, why, under which legal basis, where it is
 * stored, for how long and who receives it, and the routes anyone may call.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { LEGAL_BASES } from "./owner-words.ts";
import { StringEnum } from "./string-enum.ts";

/** A region as the map shows it. */
export const MapRegionView = T.Object({
  id: T.String(),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country its store is in" }),
  markets: T.Array(T.String(), {
    description:
      "markets the configuration sends to it; the default region also takes every market not named",
  }),
  isDefault: T.Boolean(),
  soldIn: T.Array(T.String(), { description: "markets its registered batches were made for" }),
  variants: T.Array(T.String(), { description: "its registered variants" }),
});
export type MapRegion = Static<typeof MapRegionView>;

/** One field of a collection. */
export const MapFieldView = T.Object({
  name: T.String(),
  description: T.String(),
  dataCategory: T.String(),
  categoryDescription: T.String(),
  sensitivity: T.Integer(),
  transform: T.String({
    description: "keep, pseudonymise, coarsen or drop: how it is minimised before storage",
  }),
  retention: T.String(),
  regions: T.Array(T.String()),
});
export type MapField = Static<typeof MapFieldView>;

/** One processing activity: an approved collection version. */
export const MapCollectionView = T.Object({
  name: T.String(),
  version: T.Integer(),
  description: T.String(),
  purpose: T.String(),
  purposeDescription: T.String(),
  legalBasis: StringEnum(LEGAL_BASES),
  retention: T.String(),
  regions: T.Array(T.Object({ id: T.String(), storedIn: T.String() }), {
    description: "the regions it may be stored in, with their storage countries",
  }),
  devices: T.Object(
    { variants: T.Array(T.String()), markets: T.Array(T.String()) },
    { description: "the devices it comes from: the variants and markets of those regions" },
  ),
  recipients: T.Array(T.String(), {
    description: "who receives it: the region that stores it, and no one else (no payload leaves its region)",
  }),
  approval: T.Union([T.Object({ reviewer: T.String(), date: T.String(), reference: T.String() }), T.Null()]),
  fields: T.Array(MapFieldView),
});
export type MapCollection = Static<typeof MapCollectionView>;

/** A route anyone may call without a token, and why it may. */
export const PublicRouteView = T.Object({
  service: StringEnum(["every service", "control plane", "collector"]),
  method: StringEnum(["GET", "POST", "DELETE"]),
  path: T.String({ description: "as the OpenAPI document writes it (`{param}`), or a prefix ending in `*`" }),
  why: T.String(),
});
export type PublicRoute = Static<typeof PublicRouteView>;

/** The whole map. */
export const DataMapView = T.Object({
  format: T.Literal("phonehome.data-map/1"),
  generatedAt: T.String({ format: "date-time" }),
  regions: T.Array(MapRegionView),
  collections: T.Array(MapCollectionView),
  publicRoutes: T.Array(PublicRouteView, {
    description: "the routes anyone may call without a token, and why each may",
  }),
});
export type DataMap = Static<typeof DataMapView>;
