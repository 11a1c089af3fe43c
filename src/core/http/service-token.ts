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
 * The service tokens of a running process, which change while it runs (a
 * rotation, docs/operations.md): the one it presents, and whether it accepts
 * one presented to it — the current token and, during an overlap, another.
 */
export interface ServiceTokens {
  /** The token this process presents to the other services. */
  current(): string;
  /** Whether `presented` is a token this process accepts now. */
  accepts(presented: string | undefined): boolean;
}

/** A fixed token (tests, one-off tools), or a running process's tokens. */
export type ServiceTokenSource = string | ServiceTokens;

/** The token to present now. */
export function presentedToken(source: ServiceTokenSource): string {
  return typeof source === "string" ? source : source.current();
}

/**
 * Whether `presented` is one of `accepted`. Both sides are hashed first:
 * `timingSafeEqual` needs equal lengths, and the comparison then reveals
 * neither a token nor its length; every accepted token is compared, so the
 * time taken does not say which one matched.
 */
export function matchesAny(accepted: readonly Buffer[], presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const digest = createHash("sha256").update(presented).digest();
  let match = false;
  for (const expected of accepted) match = timingSafeEqual(digest, expected) || match;
  return match;
}

/** The digest `matchesAny` compares a token by. */
export function tokenDigest(token: string): Buffer {
  if (token.length < 16) throw new Error("the service token must be at least 16 characters long");
  return createHash("sha256").update(token).digest();
}

/** Whether a presented token is the service token (or, for a running process, one it accepts now). */
export function serviceTokenMatcher(source: ServiceTokenSource): (presented: string | undefined) => boolean {
  if (typeof source !== "string") return (presented) => source.accepts(presented);
  const expected = [tokenDigest(source)];
  return (presented) => matchesAny(expected, presented);
}

/**
 * An `onRequest` hook that admits only the bearer service token. It runs
 * before the body is read, so an unauthenticated caller learns nothing of the
 * schema.
 */
export function serviceTokenCheck(token: ServiceTokenSource) {
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
