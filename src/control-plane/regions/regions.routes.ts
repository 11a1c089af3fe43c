/** `GET /v1/regions`: the regions, where each stores its data, its collector URL and the market policy. */
import { type RegionList, RegionsView } from "@phonehome/shared";
import type { Config } from "../../core/config/index.ts";
import type { App } from "../../core/http/index.ts";

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
    async (): Promise<RegionList> => ({
      regions: config.regions.map((r) => ({
        id: r.id,
        storedIn: r.storedIn,
        url: urls().get(r.id) ?? r.url,
      })),
      policy: { markets: { ...config.policy.markets }, default: config.policy.default },
    }),
  );
}
