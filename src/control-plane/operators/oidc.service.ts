/**
 * Operators' sign-in through an OpenID provider (docs/operators.md), as a
 * relying party built on openid-client: the authorization code flow with PKCE
 * (S256), `state` and `nonce`. What the callback needs (the state's SHA-256,
 * the PKCE verifier, the nonce, and the SHA-256 of a random value the
 * beginning browser holds in a cookie) is kept in the control plane's store,
 * not in the browser, so any replica answers the callback; a callback takes
 * its row as it reads it, so a state works once and for 10 minutes, and only
 * for the browser that began it. The provider's role claim is mapped to one
 * phonehome role; no mapped value, no operator and no session. A session it
 * opens is an ordinary session: the console uses it as a password session.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as client from "openid-client";
import type { Role } from "@phonehome/shared";
import { appendAudit } from "../../core/audit-log/index.ts";
import type { OidcConfig } from "../../core/config/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  findProviderOperator,
  insertPendingSignIn,
  insertProviderOperator,
  pendingSignInsFrom,
  takePendingSignIn,
  updateProviderOperator,
} from "./oidc.repository.ts";
import { openSession } from "./operators.service.ts";

/** How long a begun sign-in may take to come back, in seconds. */
export const SIGN_IN_SECONDS = 600;
/** Sign-ins one address may have begun and not finished within `SIGN_IN_SECONDS`. */
export const PENDING_PER_ADDRESS = 20;
/** Longest wait for the provider (discovery, token, keys, userinfo), in seconds. */
const PROVIDER_TIMEOUT_SECONDS = 10;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** What a begun sign-in gives the browser: where to go, and the value its cookie keeps. */
export interface BegunSignIn {
  authorizationUrl: string;
  browser: string;
}

/** A session opened through the provider. */
export interface ProviderSession {
  token: string;
  expiresAt: string;
  username: string;
  role: Role;
}

/** The relying party of one configured provider. */
export interface OidcSignIn {
  /** The provider's name, as the console offers it. */
  readonly name: string;
  /** Begins a sign-in from `address`; `browser` is the cookie's value the browser already holds, if any. */
  begin(address: string, browser: string | undefined, now?: Date): Promise<BegunSignIn>;
  /** Completes a sign-in from the provider's redirect back (`query`, as received), for the browser holding `browser`. */
  complete(query: URLSearchParams, browser: string | undefined, now?: Date): Promise<ProviderSession>;
  /** Where the browser goes to sign out at the provider too, or undefined when it offers no end_session_endpoint. */
  signOutUrl(): Promise<string | undefined>;
  /** Where the console is: the callback's origin, /console/. */
  consoleUrl(): string;
}

/**
 * The relying party for `config`. `controlPlaneUrl` is read when a URL is
 * needed and none is configured (the control plane's port may be picked at
 * start). The provider is discovered at first use and again after a failure.
 */
export function oidcSignIn(db: Db, config: OidcConfig, controlPlaneUrl: () => string): OidcSignIn {
  const secret =
    config.clientSecretFile === undefined ? undefined : readFileSync(config.clientSecretFile, "utf8").trim();
  const redirectUri = () => config.redirectUri ?? `${controlPlaneUrl()}/v1/sessions/oidc/callback`;
  const consoleUrl = () => new URL("/console/", redirectUri()).href;
  const postLogoutUri = () => config.postLogoutRedirectUri ?? consoleUrl();
  let discovered: Promise<client.Configuration> | undefined;
  const provider = (): Promise<client.Configuration> => {
    discovered ??= client
      .discovery(
        new URL(config.issuer),
        config.clientId,
        undefined,
        secret === undefined ? client.None() : client.ClientSecretBasic(secret),
        {
          timeout: PROVIDER_TIMEOUT_SECONDS,
          // The configuration admits plain HTTP only for a provider on a loopback address.
          execute: new URL(config.issuer).protocol === "http:" ? [client.allowInsecureRequests] : [],
        },
      )
      .catch((error: unknown) => {
        discovered = undefined;
        throw new PhoneHomeError(
          "auth.oidc_unavailable",
          `the identity provider ${config.name} (${config.issuer}) cannot be reached: ${(error as Error).message}`,
          { cause: error },
        );
      });
    return discovered;
  };

  return {
    name: config.name,
    consoleUrl,
    async begin(address, browser, now = new Date()) {
      const pending = await pendingSignInsFrom(
        db,
        address,
        new Date(now.getTime() - SIGN_IN_SECONDS * 1000),
        now,
      );
      if (pending.count >= PENDING_PER_ADDRESS) {
        const wait = Math.max(
          1,
          Math.ceil(
            ((pending.oldest?.getTime() ?? now.getTime()) + SIGN_IN_SECONDS * 1000 - now.getTime()) / 1000,
          ),
        );
        throw new PhoneHomeError(
          "auth.sign_in_throttled",
          `too many sign-ins begun from your address and not finished: try again in ${Math.ceil(wait / 60)} minutes`,
          { retryAfterSeconds: wait },
        );
      }
      const configuration = await provider();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const codeVerifier = client.randomPKCECodeVerifier();
      const cookie =
        browser !== undefined && /^[A-Za-z0-9_-]{43}$/.test(browser)
          ? browser
          : randomBytes(32).toString("base64url");
      await insertPendingSignIn(db, {
        stateSha256: sha256(state),
        browserSha256: sha256(cookie),
        codeVerifier,
        nonce,
        address,
        createdAt: now,
        expiresAt: new Date(now.getTime() + SIGN_IN_SECONDS * 1000),
      });
      const url = client.buildAuthorizationUrl(configuration, {
        redirect_uri: redirectUri(),
        scope: config.scopes.join(" "),
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: "S256",
        state,
        nonce,
      });
      return { authorizationUrl: url.href, browser: cookie };
    },

    async complete(query, browser, now = new Date()) {
      const state = query.get("state");
      const refused = (why: string) =>
        new PhoneHomeError(
          "auth.oidc_state_invalid",
          `this sign-in cannot be completed: ${why}; sign in again`,
        );
      if (state === null || state.length === 0 || state.length > 512) throw refused("it carries no state");
      const pending = await takePendingSignIn(db, sha256(state));
      if (pending === null) throw refused("its state was not begun here, or was used already");
      if (pending.expiresAt <= now)
        throw refused(`it was begun more than ${SIGN_IN_SECONDS / 60} minutes ago`);
      if (browser === undefined || sha256(browser) !== pending.browserSha256)
        throw refused("it was begun in another browser");
      const providerError = query.get("error");
      if (providerError !== null) {
        const description = query.get("error_description");
        throw new PhoneHomeError(
          "auth.oidc_failed",
          `${config.name} did not sign you in: ${providerError.slice(0, 100)}${description === null ? "" : ` (${description.slice(0, 300)})`}`,
        );
      }
      const configuration = await provider();
      const callback = new URL(redirectUri());
      callback.search = query.toString();
      let claims: Record<string, unknown>;
      let issuer: string;
      let subject: string;
      let idTokenExpires: number;
      try {
        const tokens = await client.authorizationCodeGrant(configuration, callback, {
          pkceCodeVerifier: pending.codeVerifier,
          expectedState: state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
        });
        const idToken = tokens.claims();
        if (idToken === undefined) throw new Error("the provider returned no ID token");
        issuer = idToken.iss;
        subject = idToken.sub;
        // OpenID Connect bounds a subject at 255 ASCII characters; the store holds no more.
        if (subject.length > 255) throw new Error("the ID token's subject is longer than 255 characters");
        idTokenExpires = idToken.exp * 1000;
        claims = { ...idToken };
        // Providers that keep claims out of the ID token (the code flow's default in many) give them at userinfo.
        if (claims[config.roleClaim] === undefined && configuration.serverMetadata().userinfo_endpoint) {
          claims = {
            ...(await client.fetchUserInfo(configuration, tokens.access_token, subject)),
            ...claims,
          };
        }
      } catch (error) {
        if (error instanceof PhoneHomeError) throw error;
        throw new PhoneHomeError(
          "auth.oidc_failed",
          `${config.name}'s answer did not verify: ${(error as Error).message}`,
          { cause: error },
        );
      }
      const role = roleOf(config, claims[config.roleClaim]);
      if (role === null) {
        throw new PhoneHomeError(
          "auth.oidc_no_role",
          `${config.name} signed you in, but your account has no group that gives a phonehome role (claim ${config.roleClaim}): ask your administrator`,
        );
      }
      const expiresAt = new Date(Math.min(now.getTime() + config.sessionMaxSeconds * 1000, idTokenExpires));
      if (expiresAt <= now)
        throw new PhoneHomeError("auth.oidc_failed", `${config.name}'s ID token has expired`);
      const name = displayName(claims, subject);
      return db.transaction(async (tx) => {
        const username = await providerOperator(
          tx,
          { issuer, subject, name, role, hint: usernameHint(claims) },
          now,
        );
        const token = await openSession(
          tx,
          username,
          { method: "oidc", issuer, subject, role },
          now,
          expiresAt,
        );
        return { token, expiresAt: expiresAt.toISOString(), username, role };
      });
    },

    async signOutUrl() {
      const configuration = await provider().catch(() => undefined);
      if (configuration?.serverMetadata().end_session_endpoint === undefined) return undefined;
      return client
        .buildEndSessionUrl(configuration, {
          client_id: config.clientId,
          post_logout_redirect_uri: postLogoutUri(),
        })
        .toString();
    },
  };
}

/** The role the first mapping entry the claim holds gives, or null. The claim is a string or an array of strings. */
export function roleOf(config: Pick<OidcConfig, "roles">, claim: unknown): Role | null {
  const values = new Set(
    (Array.isArray(claim) ? claim : [claim]).filter((v): v is string => typeof v === "string"),
  );
  return config.roles.find((entry) => values.has(entry.value))?.role ?? null;
}

const USERNAME = /^[a-z][a-z0-9._-]{1,63}$/;

/** A username to try for a new operator, from preferred_username or the e-mail's local part. */
function usernameHint(claims: Record<string, unknown>): string {
  const raw =
    typeof claims.preferred_username === "string"
      ? claims.preferred_username
      : typeof claims.email === "string"
        ? (claims.email.split("@")[0] ?? "")
        : "";
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .slice(0, 48);
  return USERNAME.test(cleaned) ? cleaned : "sso";
}

function displayName(claims: Record<string, unknown>, subject: string): string {
  for (const key of ["name", "preferred_username", "email"]) {
    const value = claims[key];
    if (typeof value === "string" && value.trim() !== "") return value.trim().slice(0, 200);
  }
  return subject.slice(0, 200);
}

/**
 * The operator the provider vouches for: created at first sign-in (its
 * username from the hint, or the hint with a suffix from the subject when a
 * local account or another person has it), its name and role set from the
 * provider at every sign-in; each creation and change of role in the audit
 * log. A disabled operator is refused.
 */
async function providerOperator(
  tx: Queryable,
  who: { issuer: string; subject: string; name: string; role: Role; hint: string },
  now: Date,
): Promise<string> {
  const actor = "system:oidc";
  const existing = await findProviderOperator(tx, who.issuer, who.subject);
  if (existing !== null) {
    if (existing.disabledAt !== null)
      throw new PhoneHomeError("auth.oidc_failed", "this operator is disabled in phonehome");
    if (existing.role !== who.role || existing.name !== who.name) {
      await updateProviderOperator(tx, { username: existing.username, name: who.name, role: who.role });
    }
    if (existing.role !== who.role) {
      await appendAudit(
        tx,
        {
          actor,
          action: "operator.role_changed",
          subject: existing.username,
          reason: null,
          detail: { from: existing.role, to: who.role, issuer: who.issuer, subject: who.subject },
        },
        now,
      );
    }
    return existing.username;
  }
  const suffix = sha256(`${who.issuer}\n${who.subject}`).slice(0, 8);
  for (const username of [who.hint, `${who.hint.slice(0, 48)}-${suffix}`]) {
    if (await insertProviderOperator(tx, { ...who, username, createdAt: now })) {
      await appendAudit(
        tx,
        {
          actor,
          action: "operator.added",
          subject: username,
          reason: null,
          detail: { role: who.role, issuer: who.issuer, subject: who.subject },
        },
        now,
      );
      return username;
    }
  }
  throw new PhoneHomeError("auth.oidc_failed", "no username is free for this operator: sign in again");
}
