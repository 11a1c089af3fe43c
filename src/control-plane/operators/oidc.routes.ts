/**
 * The two browser-facing routes of sign-in through an OpenID provider: the
 * console's "Sign in with …" link begins there, and the provider sends the
 * browser back to the callback. Both answer with redirects, never JSON: the
 * callback hands the session's token to the console in the URL fragment
 * (which no browser sends to a server; the console removes it from the
 * address bar at once), and a refusal as its code and message, which the
 * console shows on its sign-in page.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type as T } from "@sinclair/typebox";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import type { OidcSignIn } from "./oidc.service.ts";
import { SIGN_IN_SECONDS } from "./oidc.service.ts";
import { addressKey } from "./sign-in-throttle.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

/** The cookie that ties a begun sign-in to the browser that began it (a random value; the store keeps its SHA-256). */
const COOKIE = "phonehome_oidc";
const COOKIE_PATH = "/v1/sessions/oidc";

function cookieOf(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const [name, value] = part.trim().split("=", 2);
    if (name === COOKIE && value !== undefined && value !== "") return value;
  }
  return undefined;
}

function setCookie(reply: FastifyReply, value: string, maxAge: number, secure: boolean): void {
  reply.header(
    "set-cookie",
    `${COOKIE}=${value}; Path=${COOKIE_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`,
  );
}

/**
 * Registers `GET /v1/sessions/oidc` (begin) and `GET /v1/sessions/oidc/callback`;
 * without a provider configured both answer `404 auth.oidc_not_configured`.
 */
export function registerOidcRoutes(app: App, deps: { oidc: OidcSignIn | undefined }): void {
  const tags = ["operators"];
  const configured = (): OidcSignIn => {
    if (deps.oidc === undefined)
      throw new PhoneHomeError(
        "auth.oidc_not_configured",
        "no identity provider is configured: sign in with a password (POST /v1/sessions)",
      );
    return deps.oidc;
  };
  const secure = (oidc: OidcSignIn) => new URL(oidc.consoleUrl()).protocol === "https:";

  app.get(
    "/v1/sessions/oidc",
    {
      schema: {
        tags,
        summary: "Sign in through the OpenID provider: the browser is sent to its authorization endpoint",
        description:
          "The authorization code flow with PKCE (S256), `state` and `nonce`, kept in the control plane's store for " +
          `${SIGN_IN_SECONDS / 60} minutes and tied to this browser by an HttpOnly cookie. At most 20 sign-ins begun ` +
          "and not finished per address within that time (429 `auth.sign_in_throttled`).",
        response: {
          303: T.Null({ description: "to the provider; `Location` is its authorization URL" }),
          404: Problem,
          429: Problem,
          503: Problem,
        },
      },
    },
    async (request, reply) => {
      const oidc = configured();
      const begun = await oidc.begin(addressKey(request.ip), cookieOf(request));
      setCookie(reply, begun.browser, SIGN_IN_SECONDS, secure(oidc));
      reply.header("cache-control", "no-store");
      return reply.redirect(begun.authorizationUrl, 303);
    },
  );

  app.get(
    "/v1/sessions/oidc/callback",
    {
      schema: {
        tags,
        summary: "The provider's redirect back: opens a session and hands it to the console",
        description:
          "The redirect URI registered at the provider. The state must be one this control plane began for this " +
          "browser, unused and younger than 10 minutes; the code is exchanged with the PKCE verifier and the ID token " +
          "checked (issuer, audience, signature, nonce, expiry); the role claim must map to a role. The browser is " +
          "sent to `/console/#session=<token>`, or on a refusal to `/console/#sign-in-error=<code>&message=<words>` " +
          "(`auth.oidc_state_invalid`, `auth.oidc_failed`, `auth.oidc_no_role`, `auth.oidc_unavailable`), having " +
          "created nothing. The session lasts `sessionMaxSeconds`, or until the ID token expires if sooner.",
        querystring: T.Object(
          {
            code: T.Optional(T.String({ maxLength: 2048 })),
            state: T.Optional(T.String({ maxLength: 512 })),
            iss: T.Optional(T.String({ maxLength: 2048 })),
            session_state: T.Optional(T.String({ maxLength: 2048 })),
            error: T.Optional(T.String({ maxLength: 200 })),
            error_description: T.Optional(T.String({ maxLength: 1000 })),
            error_uri: T.Optional(T.String({ maxLength: 2048 })),
          },
          // Providers add parameters of their own to the redirect (Google: scope, authuser, hd, prompt):
          // they are let through, bounded, and nothing reads them.
          { additionalProperties: T.String({ maxLength: 2048 }), maxProperties: 20 },
        ),
        response: {
          303: T.Null({ description: "to the console, with the session or the refusal in the fragment" }),
          400: Problem,
          404: Problem,
        },
      },
    },
    async (request, reply) => {
      const oidc = configured();
      const query = new URLSearchParams(request.url.split("?")[1] ?? "");
      reply.header("cache-control", "no-store");
      // The cookie has done its work either way: forget it.
      setCookie(reply, "", 0, secure(oidc));
      try {
        const session = await oidc.complete(query, cookieOf(request));
        request.log.info(
          { operator: session.username, role: session.role },
          "operator signed in through OIDC",
        );
        return reply.redirect(`${oidc.consoleUrl()}#session=${session.token}`, 303);
      } catch (error) {
        if (!(error instanceof PhoneHomeError) || !error.code.startsWith("auth.")) throw error;
        request.log.info({ code: error.code, reason: error.message }, "OIDC sign-in refused");
        const fragment = new URLSearchParams({ "sign-in-error": error.code, message: error.message });
        return reply.redirect(`${oidc.consoleUrl()}#${fragment.toString()}`, 303);
      }
    },
  );
}
