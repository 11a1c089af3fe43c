/** `POST /v1/activations`: thin edge over `activate`. */

import { ActivationResponse } from "@phonehome/shared";
import { Type as T } from "@sinclair/typebox";
import type { App } from "../../core/http/index.ts";
import { ENVELOPE_ROUTE, EnvelopeSchema, envelopeOf, type IntakeContext } from "../ingest/index.ts";
import { presentActivation } from "./activation.presenter.ts";
import { activate } from "./activation.service.ts";

const error = T.Ref("ErrorResponse");

/** Registers the activation endpoint of a region's collector. */
export function registerActivationRoutes(app: App, ctx: IntakeContext): void {
  app.post(
    "/v1/activations",
    {
      ...ENVELOPE_ROUTE,
      bodyLimit: ctx.maxBodyBytes,
      schema: {
        summary: "Activate a device's warranty",
        description:
          "Takes an envelope whose payload is sealed to this region's key and signed by the device key. " +
          "Stores the activation once; repeats return the first activation (200).",
        tags: ["activation"],
        body: EnvelopeSchema,
        response: { 200: ActivationResponse, 201: ActivationResponse, 400: error, 403: error, 413: error },
      },
    },
    async (request, reply) => {
      const outcome = await activate(ctx, await envelopeOf(ctx, request));
      return reply.status(outcome.replayed ? 200 : 201).send({
        activation: presentActivation(outcome.activation, ctx.region),
        replayed: outcome.replayed,
      });
    },
  );
}
