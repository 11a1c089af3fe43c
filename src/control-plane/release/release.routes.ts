/**
 * The release gate and build manifests on the control plane: check an SBOM
 * for a variant, register a build with its SBOM (the verdict is kept), release
 * it (refused while the gate blocks it, unless forced with a reason), and read
 * a build's manifest. Changing routes need the service token.
 */
import { GateFindingView, ReleaseBuildView } from "@phonehome/shared";
import { authorize, type Permission } from "../operators/index.ts";
import { type Static, Type as T } from "@sinclair/typebox";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { findBuildManifest } from "./builds.repository.ts";
import { verdictJson } from "./release.presenter.ts";
import {
  type BuildContext,
  checkSbom,
  presentBuildManifest,
  registerBuild,
  releaseBuild,
} from "./release.service.ts";
import { MAX_SBOM_BYTES } from "./sbom.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const Id = T.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
const Sbom = T.Object({}, { additionalProperties: true, description: "a CycloneDX JSON SBOM (1.4 to 1.7)" });

const VerdictView = T.Object(
  {
    passed: T.Boolean(),
    target: T.Object({ model: T.String(), variant: T.String(), region: T.String() }),
    build: T.Union([T.Object({ name: T.String(), version: T.Optional(T.String()) }), T.Null()], {
      description: "what the SBOM's metadata.component names",
    }),
    components: T.Integer(),
    findings: T.Array(GateFindingView),
  },
  { description: "The release gate's verdict: every reason the build is blocked, none when it passes" },
);

const CheckBody = T.Object(
  {
    variant: T.String({ minLength: 1, maxLength: 129, description: "VARIANT, or MODEL/VARIANT" }),
    model: T.Optional(Id),
    sbom: Sbom,
  },
  { additionalProperties: false },
);
const RegisterBody = T.Object(
  {
    model: Id,
    variant: Id,
    lineage: T.String({
      pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
      description: "the branch, e.g. 00WW_3_39B",
    }),
    sbom: Sbom,
  },
  { additionalProperties: false },
);
const ReleaseBody = T.Object(
  {
    force: T.Optional(
      T.Object(
        {
          reason: T.String({
            minLength: 10,
            maxLength: 2000,
            description: "why it ships although the gate blocked it",
          }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
const NumberParams = T.Object({ number: Id });

/** What the routes need. */
export interface ReleaseRouteDeps extends BuildContext {
  serviceToken: ServiceTokenSource;
}

/** Registers the release routes on the control plane. */
export function registerReleaseRoutes(app: App, deps: ReleaseRouteDeps): void {
  const allow = (permission: Permission) => authorize(deps, permission);
  const tags = ["release"];
  const security = [{ serviceToken: [] }];
  const bodyLimit = MAX_SBOM_BYTES + 64 * 1024;

  app.post(
    "/v1/release-checks",
    {
      onRequest: allow("release.check"),
      bodyLimit,
      schema: {
        tags,
        security,
        summary: "Check a build's SBOM against a variant; nothing is stored",
        body: CheckBody,
        response: { 200: VerdictView, 400: Problem, 401: Problem, 404: Problem, 413: Problem, 500: Problem },
      },
    },
    async (request) => {
      const body: Static<typeof CheckBody> = request.body;
      return verdictJson(await checkSbom(deps, JSON.stringify(body.sbom), body.variant, body.model));
    },
  );

  app.put(
    "/v1/builds/:number",
    {
      onRequest: allow("release.write"),
      bodyLimit,
      schema: {
        tags,
        security,
        summary: "Register a build with its SBOM; the gate's verdict is kept with it",
        params: NumberParams,
        body: RegisterBody,
        response: {
          200: T.Object({ build: ReleaseBuildView, verdict: VerdictView }),
          400: Problem,
          401: Problem,
          404: Problem,
          409: Problem,
          413: Problem,
          500: Problem,
        },
      },
    },
    async (request) => {
      const { build, verdict } = await registerBuild(deps, request.params.number, request.body);
      return { build, verdict: verdictJson(verdict) };
    },
  );

  app.post(
    "/v1/builds/:number/release",
    {
      onRequest: allow("release.write"),
      schema: {
        tags,
        security,
        summary:
          "Release a build to its variant's devices; refused while the gate blocks it, unless forced with a reason",
        params: NumberParams,
        body: ReleaseBody,
        response: {
          200: T.Object({ build: ReleaseBuildView }),
          400: Problem,
          401: Problem,
          404: Problem,
          409: Problem,
          500: Problem,
        },
      },
    },
    async (request) => ({ build: await releaseBuild(deps, request.params.number, request.body.force) }),
  );

  app.get(
    "/v1/builds/:number",
    {
      schema: {
        tags,
        summary: "A build: its variant, lineage, release and the gate's verdict on its manifest",
        params: NumberParams,
        response: { 200: T.Object({ build: ReleaseBuildView }), 400: Problem, 404: Problem, 500: Problem },
      },
    },
    async (request) => {
      const build = await findBuildManifest(deps.db, request.params.number);
      if (build === null)
        throw new PhoneHomeError("fleet.not_found", `no build ${request.params.number} is registered`);
      return { build: presentBuildManifest(build) };
    },
  );
}
