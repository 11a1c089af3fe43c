/**
 * The control plane's subject-request routes: `POST /v1/subject-requests/erasure`
 * and `POST /v1/subject-requests/access` (carried out in every region) and `GET /v1/subject-requests/{id}` (an
 * owner's own request and its receipts). The owner token is verified against
 * the control plane's own fleet records.
 */
import { Type as T } from "@sinclair/typebox";
import type { Db } from "../../core/db/index.ts";
import type { DeviceDirectory } from "../../core/directory/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { App } from "../../core/http/index.ts";
import { type OwnerContext, ownerAuthenticator } from "../../core/owners/index.ts";
import { REQUEST_ID_PATTERN } from "@phonehome/shared";
import {
  findSubjectRequestState,
  type RegionEndpoint,
  requestedErasureEpoch,
  requestAccess,
  requestErasure,
} from "./orchestration.service.ts";
import { presentSubjectRequest, SubjectRequestView } from "./subject-requests.presenter.ts";

/** What the control plane's subject-request routes need. */
export interface OrchestrationRouteDeps {
  db: Db;
  /** The control plane's own device directory (its fleet records). */
  directory: DeviceDirectory;
  /** Every configured region, with the URL it answers at now. */
  regions: () => RegionEndpoint[];
}

const RequestId = T.String({ pattern: REQUEST_ID_PATTERN, description: "a UUID naming the request" });

/** Registers the subject-request routes of the control plane. */
export function registerOrchestrationRoutes(app: App, deps: OrchestrationRouteDeps): void {
  // Tokens are checked against the control plane's fleet records, and refused once an erasure
  // request here postdates them.
  const owners = ownerAuthenticator(deps.directory, (deviceKey) => requestedErasureEpoch(deps.db, deviceKey));
  // Access and erasure differ only in what each region is asked and how the answer is shown.
  const kinds = [
    {
      path: "/v1/subject-requests/erasure",
      // The token an erasure was asked with may ask it again, to complete it.
      repeats: true,
      summary: "Erase the device's data in every region; answers each region's signed receipt",
      description:
        "Authenticated with an owner token, which is passed on to every configured region's " +
        "`DELETE /v1/owner/data`. Each region's receipt is verified with the key it publishes at " +
        "`/v1/receipt-key`, and only the receipts (counts, digests, dates) are stored. Send your own " +
        "`requestId` to be able to retry: a repeated request asks again only the regions whose receipt is " +
        "missing. A region that cannot be reached makes the answer `subject_request.incomplete` (502), naming it.",
      run: async (owner: OwnerContext, authorization: string, requestId: string | undefined) =>
        presentSubjectRequest(await requestErasure(deps, owner, authorization, requestId)),
    },
    {
      path: "/v1/subject-requests/access",
      repeats: false,
      summary: "Ask every region what it holds about the device; answers each region's signed access receipt",
      description:
        "Authenticated with an owner token, which is passed on to every configured region's " +
        "`POST /v1/owner/access-receipts`. Each region answers a receipt — per collection a count and a SHA-256 " +
        "over the keys of the records it holds, and when — verified with the key it publishes at " +
        "`/v1/receipt-key`; only the receipts are stored. `exports` names, per region, where the owner fetches " +
        "the export itself with the same token (`GET /v1/owner/data?requestId=…`): it goes from the region " +
        "straight to the owner, never through the control plane. Retries and a region that cannot be reached " +
        "as for erasure.",
      run: async (owner: OwnerContext, authorization: string, requestId: string | undefined) =>
        presentSubjectRequest(await requestAccess(deps, owner, authorization, requestId), deps.regions()),
    },
  ];
  for (const kind of kinds) {
    app.post(
      kind.path,
      {
        schema: {
          tags: ["subject-requests"],
          summary: kind.summary,
          description: kind.description,
          security: [{ ownerToken: [] }],
          body: T.Object({ requestId: T.Optional(RequestId) }, { additionalProperties: false }),
          response: {
            200: SubjectRequestView,
            400: T.Ref("ErrorResponse"),
            401: T.Ref("ErrorResponse"),
            403: T.Ref("ErrorResponse"),
            409: T.Ref("ErrorResponse"),
            502: T.Ref("ErrorResponse"),
          },
        },
      },
      async (request) => {
        const authorization = request.headers.authorization;
        const requestId = request.body.requestId?.toLowerCase();
        const owner = await owners(authorization, kind.repeats ? { repeating: requestId } : {});
        return kind.run(owner, authorization ?? "", requestId);
      },
    );
  }

  app.get(
    "/v1/subject-requests/:id",
    {
      schema: {
        tags: ["subject-requests"],
        summary: "One of the device's subject requests and the receipts the regions signed",
        description:
          "Authenticated with an owner token; a token opens its own device's requests only (another " +
          "device's request is answered as not found).",
        security: [{ ownerToken: [] }],
        params: T.Object({ id: RequestId }, { additionalProperties: false }),
        response: {
          200: SubjectRequestView,
          401: T.Ref("ErrorResponse"),
          403: T.Ref("ErrorResponse"),
          404: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const id = request.params.id.toLowerCase();
      // The token an erasure was asked with may still read that request's receipts.
      const owner = await owners(request.headers.authorization, { repeating: id });
      const state = await findSubjectRequestState(deps.db, id, owner.device.deviceKey);
      if (!state) {
        throw new PhoneHomeError(
          "subject_request.not_found",
          `the device has no subject request ${request.params.id}`,
          { path: "/params/id" },
        );
      }
      return presentSubjectRequest(state, deps.regions());
    },
  );
}
