/**
 * Advisories on the control plane: publishing needs the service token;
 * reading them, and "is my device fixed?" by build number, are public — they
 * describe software, not people.
 */
import { AdoptionReportView, AdvisoryView, DAY, LookupView } from "@phonehome/shared";
import { authorize } from "../operators/index.ts";
import { type Static, Type as T } from "@sinclair/typebox";
import type { Db } from "../../core/db/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { adoptionOf } from "./adoption.service.ts";
import { getAdvisory, listAdvisories, lookupBuild, publishAdvisory } from "./advisories.service.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const Id = T.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
const AdvisoryId = T.String({ pattern: "^[A-Z][A-Z0-9-]{2,40}$", description: "e.g. PH-2019-0001" });
const Affected = T.Object({ model: Id, variant: Id }, { additionalProperties: false });
const PublishBody = T.Object(
  {
    id: AdvisoryId,
    title: T.String({ minLength: 1, maxLength: 200 }),
    description: T.String({ minLength: 1, maxLength: 5000 }),
    affects: T.Array(Affected, {
      minItems: 1,
      maxItems: 100,
      description: "the variants the problem affects",
    }),
    fixes: T.Array(Id, {
      minItems: 1,
      maxItems: 100,
      description: "released builds that fix it, one per lineage",
    }),
  },
  { additionalProperties: false },
);
/** Registers the advisory routes on the control plane. */
export function registerAdvisoryRoutes(
  app: App,
  deps: { db: Db; serviceToken: ServiceTokenSource; regions: () => { id: string; url: string }[] },
): void {
  const { db } = deps;
  const tags = ["advisories"];

  app.post(
    "/v1/advisories",
    {
      onRequest: authorize(deps, "advisories.write"),
      // 5,000 characters of description, 100 variants and 100 builds.
      bodyLimit: 64 * 1024,
      schema: {
        tags,
        security: [{ serviceToken: [] }],
        summary: "Publish an advisory: a problem, the variants it affects, and the builds that fix it",
        body: PublishBody,
        response: { 200: AdvisoryView, 400: Problem, 401: Problem, 500: Problem },
      },
    },
    async (request) => publishAdvisory(db, request.body as Static<typeof PublishBody>),
  );

  app.get(
    "/v1/advisories",
    {
      schema: {
        tags,
        summary: "Every advisory, oldest first",
        response: { 200: T.Object({ advisories: T.Array(AdvisoryView) }) },
      },
    },
    async () => ({ advisories: await listAdvisories(db) }),
  );

  app.get(
    "/v1/advisories/:id",
    {
      schema: {
        tags,
        summary: "One advisory",
        params: T.Object({ id: AdvisoryId }),
        response: { 200: AdvisoryView, 400: Problem, 404: Problem },
      },
    },
    async (request) => getAdvisory(db, request.params.id),
  );

  app.get(
    "/v1/adoption",
    {
      onRequest: authorize(deps, "adoption.read"),
      schema: {
        tags,
        security: [{ serviceToken: [] }],
        summary:
          "Adoption of an advisory's fix: per day, batch and market, the share of active devices on a fixed build",
        description:
          "Gathered from every region's day counts (which name no device); a region that does not answer is listed in `regions.missing`.",
        querystring: T.Object(
          { advisory: AdvisoryId, since: T.String({ pattern: DAY, description: "first UTC date" }) },
          { additionalProperties: false },
        ),
        response: { 200: AdoptionReportView, 400: Problem, 401: Problem, 404: Problem },
      },
    },
    async (request) =>
      adoptionOf(
        db,
        { regions: deps.regions, serviceToken: deps.serviceToken },
        request.query.advisory,
        request.query.since,
      ),
  );

  app.get(
    "/v1/lookup/:build",
    {
      schema: {
        tags,
        summary: "Is my device fixed? The status of a build number under every advisory",
        description:
          "Public. For the build number shown under Settings > System > About phone: `fixed`, `not fixed` (with the build that fixes it in its lineage), `not affected`, or `unknown build`.",
        params: T.Object({ build: T.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: LookupView, 400: Problem },
      },
    },
    async (request) => lookupBuild(db, request.params.build),
  );
}
