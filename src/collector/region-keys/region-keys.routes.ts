/**
 * The region's keys over HTTP: the public JWK Set of every receipt key it
 * ever used, and the operators' key routes (service token) the `phonehome
 * keys` commands call — list, prepare a rotation, the statement of the current
 * set, publish a descriptor the fleet root signed offline, rotate the receipt
 * key. The root's private key never comes here: only its signature does.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { ReceiptKeyView } from "@phonehome/shared";
import { EXACT_DURATION_PATTERN, parseDurationMs } from "../../core/calendar/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { type ServiceTokenSource, serviceTokenCheck } from "../../core/http/index.ts";
import { receiptKeySet } from "../consent/index.ts";
import type { RegionKeyRing } from "./key-ring.ts";
import {
  currentStatement,
  listKeys,
  prepareRotation,
  publishDescriptor,
  type RegionKeysContext,
  rotateReceiptKey,
} from "./region-keys.service.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

const Validity = T.Object({
  kid: T.String(),
  publicKey: T.String({ description: "raw X25519 public key, base64url" }),
  notBefore: T.String({ format: "date-time" }),
  notAfter: T.String({ format: "date-time" }),
});
const Statement = T.Object(
  {
    region: T.String(),
    storedIn: T.String(),
    url: T.String(),
    keys: T.Array(Validity),
    issuedAt: T.String({ format: "date-time" }),
  },
  {
    description: "the region descriptor statement the fleet root signs (as `signRegionDescriptor` takes it)",
  },
);
const Prepared = T.Object({
  region: T.String(),
  kid: T.Optional(T.String({ description: "the pending key a rotation made (absent when re-signing)" })),
  statement: Statement,
});
const RotationBody = T.Object(
  {
    startsIn: T.Optional(
      T.String({
        pattern: EXACT_DURATION_PATTERN,
        description: "when the new key starts, from now (ISO 8601, default keys.startsIn)",
      }),
    ),
    overlap: T.Optional(
      T.String({
        pattern: EXACT_DURATION_PATTERN,
        description: "how long the previous key is opened after the new one starts (default keys.overlap)",
      }),
    ),
  },
  { additionalProperties: false },
);
type RotationBody = Static<typeof RotationBody>;
const DescriptorBody = T.Object(
  {
    descriptor: T.String({
      minLength: 1,
      maxLength: 16_384,
      description: "the statement as prepared, signed by the fleet root in use (compact JWS)",
    }),
  },
  { additionalProperties: false },
);
const StoredKeyView = T.Object({
  purpose: T.String({ description: "seal (HPKE X25519) or receipts (Ed25519)" }),
  kid: T.String(),
  publicKey: T.String(),
  notBefore: T.String({ format: "date-time" }),
  notAfter: T.Union([T.String({ format: "date-time" }), T.Null()], {
    description: "null for receipt keys: they never end",
  }),
  status: T.String({ description: "pending (prepared, not yet signed by the root) or published" }),
  createdAt: T.String({ format: "date-time" }),
  endedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
});

/** What the key routes need. */
export interface KeyRouteDeps {
  keys: RegionKeysContext;
  ring: RegionKeyRing;
  serviceToken: ServiceTokenSource;
}

/** Registers `GET /v1/receipt-keys` and the operators' `/v1/keys` routes. */
export function registerRegionKeyRoutes(app: App, deps: KeyRouteDeps): void {
  const { keys, ring } = deps;
  const region = keys.region.id;
  const onRequest = serviceTokenCheck(deps.serviceToken);
  const tags = ["keys"];
  const security = [{ serviceToken: [] }];

  app.get(
    "/v1/receipt-keys",
    {
      schema: {
        tags: ["keys", "owner", "consent"],
        summary: "Every key this region ever signed receipts with (consent, access, erasure), as a JWK Set",
        description:
          "Public. RFC 7517 JWK Set, oldest first; a receipt's JWS names its key by `kid`. Receipt keys rotate but stay published, so a receipt issued before a rotation still verifies.",
        response: { 200: ReceiptKeyView },
      },
    },
    async () => ({ region, ...receiptKeySet(ring.receipts) }),
  );

  app.get(
    "/v1/keys",
    {
      onRequest,
      schema: {
        tags,
        security,
        summary: "The region's keys and their validity, and the descriptor in force (no private half)",
        response: {
          200: T.Object({
            region: T.String(),
            keys: T.Array(StoredKeyView),
            descriptor: T.Union([
              T.Object({ rootKid: T.String(), issuedAt: T.String({ format: "date-time" }) }),
              T.Null(),
            ]),
            sealingKid: T.String({ description: "the key devices seal to now" }),
          }),
          401: Problem,
        },
      },
    },
    async () => {
      const listed = await listKeys(keys);
      return {
        region,
        keys: listed.keys.map((k) => ({
          ...k,
          notBefore: k.notBefore.toISOString(),
          notAfter: k.notAfter?.toISOString() ?? null,
          createdAt: k.createdAt.toISOString(),
          endedAt: k.endedAt?.toISOString() ?? null,
        })),
        descriptor:
          listed.descriptor === null
            ? null
            : { rootKid: listed.descriptor.rootKid, issuedAt: listed.descriptor.issuedAt.toISOString() },
        sealingKid: ring.kid,
      };
    },
  );

  app.post(
    "/v1/keys/rotations",
    {
      onRequest,
      schema: {
        tags,
        security,
        summary: "Prepare the next seal key: answers the descriptor statement the fleet root must sign",
        description:
          "The new key is pending — no replica opens with it or publishes it — until `POST /v1/keys/descriptor` brings the statement signed by the root in use. A rotation prepared before and never signed is replaced.",
        body: RotationBody,
        response: { 200: Prepared, 400: Problem, 401: Problem },
      },
    },
    async (request) => {
      const body: RotationBody = request.body;
      const ms = (text: string | undefined) =>
        text === undefined ? undefined : (parseDurationMs(text) ?? undefined);
      const startsInMs = ms(body.startsIn);
      const overlapMs = ms(body.overlap);
      const prepared = await prepareRotation(keys, {
        ...(startsInMs === undefined ? {} : { startsInMs }),
        ...(overlapMs === undefined ? {} : { overlapMs }),
      });
      return { region, ...prepared };
    },
  );

  app.get(
    "/v1/keys/statement",
    {
      onRequest,
      schema: {
        tags,
        security,
        summary: "The descriptor statement of the region's current keys, to re-sign",
        description:
          "For a first descriptor, after the root rolled over, or after the region's URL changed: sign it offline and post it to `POST /v1/keys/descriptor`.",
        response: { 200: Prepared, 401: Problem },
      },
    },
    async () => ({ region, ...(await currentStatement(keys)) }),
  );

  app.post(
    "/v1/keys/descriptor",
    {
      onRequest,
      // A descriptor may be 16 KiB (the most a device reads), plus its JSON wrapping.
      bodyLimit: 32 * 1024,
      schema: {
        tags,
        security,
        summary: "Publish a region descriptor the fleet root signed",
        description:
          "Checked: signed by the root in use (the last root of the fleet trust), and stating exactly what was prepared. Then the pending key (if the statement lists it) and the descriptor are published together; this replica uses them at once, the others within `keys.reloadSeconds`. A refusal changes nothing and is audit-logged.",
        body: DescriptorBody,
        response: {
          200: T.Object({
            region: T.String(),
            published: T.Optional(T.String({ description: "the key the rotation published" })),
            rootKid: T.String(),
            statement: Statement,
          }),
          400: Problem,
          401: Problem,
        },
      },
    },
    async (request) => {
      const result = await publishDescriptor(keys, request.body.descriptor);
      await ring.reload();
      return { region, ...result };
    },
  );

  app.post(
    "/v1/keys/receipt-rotations",
    {
      onRequest,
      schema: {
        tags,
        security,
        summary:
          "Rotate the receipt key: a new key signs receipts from now; every earlier one stays published",
        response: { 200: T.Object({ region: T.String(), kid: T.String() }), 401: Problem },
      },
    },
    async () => {
      const rotated = await rotateReceiptKey(keys);
      await ring.reload();
      return { region, ...rotated };
    },
  );
}
