/**
 * A real OpenID provider for tests: panva's `oidc-provider` on 127.0.0.1,
 * with its development sign-in form (any password), its own people and a
 * `groups` claim, PKCE required, consent skipped (a first-party client), and
 * RP-initiated logout. The server listens first, so the control plane can be
 * configured with its issuer before the client (whose redirect URI names the
 * control plane's port) is registered with `register`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import Provider, { type KoaContextWithOIDC } from "oidc-provider";

/** A person the provider knows: their groups, and how long their ID tokens last (seconds; default an hour). */
export interface TestPerson {
  name: string;
  email: string;
  groups: string[];
  idTokenSeconds?: number;
  /** Groups only at userinfo, not in the ID token (as providers that keep the code flow's ID token small). */
  groupsAtUserinfoOnly?: boolean;
}

/** The people of the test provider, by login (a test may move someone between groups). */
export const PEOPLE: Record<string, TestPerson> = {
  rolf: { name: "Rolf Rolechange", email: "rolf@example.com", groups: ["phonehome-operators"] },
  ada: { name: "Ada Admin", email: "ada@example.com", groups: ["staff", "phonehome-admins"] },
  otto: { name: "Otto Operator", email: "otto@example.com", groups: ["phonehome-operators"] },
  aud: { name: "Audun Auditor", email: "audun@example.com", groups: ["phonehome-auditors"] },
  sal: { name: "Sal Sales", email: "sal@example.com", groups: ["sales"] },
  uma: {
    name: "Uma Userinfo",
    email: "uma@example.com",
    groups: ["phonehome-auditors"],
    groupsAtUserinfoOnly: true,
  },
  brief: {
    name: "Bri Brief",
    email: "bri@example.com",
    groups: ["phonehome-operators"],
    idTokenSeconds: 4,
  },
};

/** The mapping of the provider's groups to phonehome roles that tests configure. */
export const ROLE_MAPPING = [
  { value: "phonehome-admins", role: "admin" },
  { value: "phonehome-operators", role: "operator" },
  { value: "phonehome-auditors", role: "auditor" },
] as const;

export const CLIENT_ID = "phonehome-console";
export const CLIENT_SECRET = "a client secret the test provider and control plane share";

/** A running test provider. */
export interface TestProvider {
  issuer: string;
  /** The control plane's `oidc` settings for this provider (`name` "Example SSO"), with `extra` over them. */
  settings(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Registers phonehome's control plane at `controlPlaneUrl` as the client; once, before any sign-in. */
  register(controlPlaneUrl: string): void;
  close(): Promise<void>;
}

/** Starts the provider's HTTP server on a free port of 127.0.0.1. */
export async function startTestProvider(): Promise<TestProvider> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (handler === undefined) {
      res.writeHead(503).end("the provider has no client yet");
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The secret as a deployment keeps it: a file only its owner reads.
  const secrets = mkdtempSync(join(tmpdir(), "phonehome-oidc-"));
  const secretFile = join(secrets, "client-secret");
  writeFileSync(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 });
  return {
    issuer,
    settings: (extra = {}) => ({
      name: "Example SSO",
      issuer,
      clientId: CLIENT_ID,
      clientSecretFile: secretFile,
      scopes: ["openid", "profile", "email", "groups"],
      roleClaim: "groups",
      roles: ROLE_MAPPING,
      ...extra,
    }),
    register(controlPlaneUrl) {
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
            redirect_uris: [`${controlPlaneUrl}/v1/sessions/oidc/callback`],
            post_logout_redirect_uris: [`${controlPlaneUrl}/console/`],
            grant_types: ["authorization_code"],
            response_types: ["code"],
            token_endpoint_auth_method: "client_secret_basic",
          },
        ],
        pkce: { required: () => true },
        claims: {
          openid: ["sub"],
          profile: ["name", "preferred_username"],
          email: ["email"],
          groups: ["groups"],
        },
        // Claims in the ID token itself, as many company providers are set up to send a groups claim.
        conformIdTokenClaims: false,
        features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
        findAccount: (_ctx: KoaContextWithOIDC, id: string) => {
          const person = PEOPLE[id];
          if (person === undefined) return undefined;
          return {
            accountId: id,
            claims: (use: string) => ({
              sub: id,
              name: person.name,
              preferred_username: id,
              email: person.email,
              ...(use === "id_token" && person.groupsAtUserinfoOnly === true
                ? {}
                : { groups: person.groups }),
            }),
          };
        },
        ttl: {
          Interaction: 600,
          Session: 3600,
          Grant: 3600,
          AccessToken: 600,
          // The token's claims are its `available` (not in the types): whose token it is.
          IdToken: (_ctx: KoaContextWithOIDC, token: object) =>
            PEOPLE[(token as { available?: { sub?: string } }).available?.sub ?? ""]?.idTokenSeconds ?? 3600,
        },
        // A first-party client: no consent screen; every scope asked for is granted.
        loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
          const oidc = ctx.oidc;
          const existing =
            oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(oidc.client?.clientId ?? "");
          if (existing !== undefined) return oidc.provider.Grant.find(existing);
          const grant = new oidc.provider.Grant({
            clientId: oidc.client?.clientId ?? "",
            accountId: oidc.session?.accountId ?? "",
          });
          grant.addOIDCScope("openid profile email groups");
          await grant.save();
          return grant;
        },
      });
      handler = provider.callback();
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      rmSync(secrets, { recursive: true, force: true });
    },
  };
}

/** Cookies by name, as a browser would keep them for one site (path and expiry aside). */
class CookieJar {
  readonly cookies = new Map<string, string>();
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const cut = pair.indexOf("=");
      const name = pair.slice(0, cut).trim();
      const value = pair.slice(cut + 1).trim();
      if (value === "" || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join("; ");
  }
}

/** One request without following redirects; cookies from and to `jar`. */
async function step(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, {
    ...init,
    redirect: "manual",
    headers: { ...(init.headers as Record<string, string> | undefined), cookie: jar.header() },
  });
  jar.take(response);
  return response;
}

function locationOf(response: Response, base: string): string {
  const location = response.headers.get("location");
  if (location === null) throw new Error(`${response.status} from ${base}: no Location`);
  return new URL(location, base).href;
}

/**
 * What a browser does between "Sign in with …" and the provider's redirect
 * back, over plain HTTP: begins at the control plane, signs in as `login` on
 * the provider's form. Answers the callback URL the provider sends the
 * browser to, and the control plane's cookie that browser holds.
 */
export async function signInAtProvider(
  controlPlaneUrl: string,
  login: string,
): Promise<{ callbackUrl: string; cookie: string }> {
  const controlPlane = new CookieJar();
  const begun = await step(controlPlane, `${controlPlaneUrl}/v1/sessions/oidc`);
  if (begun.status !== 303) throw new Error(`begin answered ${begun.status}: ${await begun.text()}`);
  const provider = new CookieJar();
  let url = locationOf(begun, controlPlaneUrl);
  let response = await step(provider, url);
  url = locationOf(response, url); // the sign-in form
  response = await step(provider, url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ prompt: "login", login, password: "any" }).toString(),
  });
  url = locationOf(response, url); // back to the authorization endpoint
  for (let hops = 0; hops < 5 && !url.startsWith(controlPlaneUrl); hops += 1) {
    response = await step(provider, url);
    url = locationOf(response, url);
  }
  if (!url.startsWith(controlPlaneUrl)) throw new Error(`the provider did not send the browser back: ${url}`);
  return { callbackUrl: url, cookie: controlPlane.header() };
}

/** Follows the control plane's callback with `cookie`; the console URL it sends the browser to, with the fragment read. */
export async function callBack(
  callbackUrl: string,
  cookie: string,
): Promise<{ status: number; location: string; fragment: URLSearchParams }> {
  const response = await fetch(callbackUrl, { redirect: "manual", headers: { cookie } });
  const location = response.headers.get("location") ?? "";
  return {
    status: response.status,
    location,
    fragment: new URLSearchParams(location.split("#")[1] ?? ""),
  };
}
