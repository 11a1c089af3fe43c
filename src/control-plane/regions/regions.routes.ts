/** `GET /v1/regions`: the regions, where each stores its data, its collector URL and the market policy. */
import { Type as T } from "@sinclair/typebox";
import type { Config } from "../../core/config/index.ts";
import type { App } from "../../core/http/index.ts";

const RegionsView = T.Object({
  regions: T.Array(
    T.Object({
      id: T.String(),
      storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where the region stores data" }),
      url: T.String({ description: "the region collector's base URL" }),
    }),
  ),
  policy: T.Object({
    markets: T.Record(T.String(), T.String(), {
      description: "markets whose devices belong to a named region",
    }),
    default: T.String({ description: "region of every other market" }),
  }),
});

/** Registers the region list; `urls` overrides configured URLs (services that listened on port 0). */
export function registerRegionListRoute(
  app: App,
  config: Pick<Config, "regions" | "policy">,
  urls: () => ReadonlyMap<string, string>,
): void {
  app.get(
    "/v1/regions",
    {
      schema: {
        tags: ["regions"],
        summary: "The data-residency regions and the market-to-region policy",
        response: { 200: RegionsView },
      },
    },
    async () => ({
      regions: config.regions.map((r) => ({
        id: r.id,
        storedIn: r.storedIn,
        url: urls().get(r.id) ?? r.url,
      })),
      policy: { markets: { ...config.policy.markets }, default: config.policy.default },
    }),
  );
}
