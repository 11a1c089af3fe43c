/** The bearer service token that guards the routes meant for phonehome's own services and operators' tools. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { PhoneHomeError } from "../errors/index.ts";

/**
 * An `onRequest` hook that admits only the bearer service token. It runs
 * before the body is read, so an unauthenticated caller learns nothing of the
 * schema. Both sides are hashed first: `timingSafeEqual` needs equal lengths,
 * and the comparison then reveals neither the token nor its length.
 */
export function serviceTokenCheck(token: string) {
  if (token.length < 16) throw new Error("the service token must be at least 16 characters long");
  const expected = createHash("sha256").update(token).digest();
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    const presented = typeof header === "string" ? /^Bearer ([\x21-\x7e]+)$/i.exec(header)?.[1] : undefined;
    const actual = createHash("sha256")
      .update(presented ?? "")
      .digest();
    if (presented === undefined || !timingSafeEqual(actual, expected)) {
      reply.header("www-authenticate", 'Bearer realm="phonehome"');
      throw new PhoneHomeError(
        "auth.service_token_invalid",
        presented === undefined ? "a bearer service token is required" : "the service token is not valid",
      );
    }
  };
}
