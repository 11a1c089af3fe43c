/** The bearer service token that guards the routes meant for phonehome's own services and operators' tools. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { PhoneHomeError } from "../errors/index.ts";

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return typeof header === "string" ? /^Bearer ([\x21-\x7e]+)$/i.exec(header)?.[1] : undefined;
}

/**
 * Whether a presented token is the service token. Both sides are hashed
 * first: `timingSafeEqual` needs equal lengths, and the comparison then
 * reveals neither the token nor its length.
 */
export function serviceTokenMatcher(token: string): (presented: string | undefined) => boolean {
  if (token.length < 16) throw new Error("the service token must be at least 16 characters long");
  const expected = createHash("sha256").update(token).digest();
  return (presented) =>
    presented !== undefined && timingSafeEqual(createHash("sha256").update(presented).digest(), expected);
}

/**
 * An `onRequest` hook that admits only the bearer service token. It runs
 * before the body is read, so an unauthenticated caller learns nothing of the
 * schema.
 */
export function serviceTokenCheck(token: string) {
  const isServiceToken = serviceTokenMatcher(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const presented = bearerToken(request);
    if (!isServiceToken(presented)) {
      reply.header("www-authenticate", 'Bearer realm="phonehome"');
      throw new PhoneHomeError(
        "auth.service_token_invalid",
        presented === undefined ? "a bearer service token is required" : "the service token is not valid",
      );
    }
  };
}
