/**
 * Which routes answer without credentials, on which service, and why each
 * may: the part of the data map (docs/data-map.md) that says what anyone can
 * read. None of them publishes a count of devices or of their messages —
 * those are for operators with a permission (`ledger.read`, `fleet.read`,
 * `rollouts.read`, `adoption.read`) or for phonehome's own services — and
 * none names a device. `roles.test.ts` keeps this list equal to the routes
 * the services serve without a token.
 */
import type { PublicRoute } from "@phonehome/shared";

/** Where a route is served. */
export type { PublicRoute } from "@phonehome/shared";

/** Who answers a public route. */
export type PublicService = PublicRoute["service"];

const SOFTWARE = "describes products and software, never a device or its use";

/** Every route that answers without a service token, an operator session or an owner token. */
export const PUBLIC_ROUTES: readonly PublicRoute[] = [
  { service: "every service", method: "GET", path: "/healthz", why: "liveness for load balancers: says ok" },
  {
    service: "every service",
    method: "GET",
    path: "/readyz",
    why: "readiness for load balancers: whether the store answers",
  },
  { service: "every service", method: "GET", path: "/openapi.json", why: "the API's own description" },
  {
    service: "every service",
    method: "GET",
    path: "/portal/*",
    why: "the owner portal's files; an owner's data is read with the device's token",
  },
  {
    service: "every service",
    method: "GET",
    path: "/v1/audit-log/head",
    why: "the audit chain's last hash, so anyone can hold the store to its log; how many entries, never what or whom",
  },
  {
    service: "control plane",
    method: "GET",
    path: "/console/*",
    why: "the operator console's files, and how operators sign in here (config.json); everything it shows needs a session",
  },
  { service: "control plane", method: "GET", path: "/v1/fleet/models", why: SOFTWARE },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/fleet/variants",
    why: `${SOFTWARE}: each variant's region, which the release check reads`,
  },
  { service: "control plane", method: "GET", path: "/v1/fleet/builds", why: SOFTWARE },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/builds/{number}",
    why: `${SOFTWARE}: a build's manifest and the release gate's verdict on it`,
  },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/regions",
    why: "where each region's collector is and the country it stores in: devices and the portal find their home",
  },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/advisories",
    why: "published problems and the builds that fix them",
  },
  { service: "control plane", method: "GET", path: "/v1/advisories/{id}", why: "one published advisory" },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/lookup/{build}",
    why: '"is my device fixed?" for a build number an owner reads off the phone',
  },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/audit-log/anchors/{region}",
    why: "the regions' audit heads the control plane anchored, so anyone can compare them",
  },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/data-map",
    why: "this map: what is collected and why",
  },
  {
    service: "control plane",
    method: "POST",
    path: "/v1/sessions",
    why: "signing in; failures are throttled (docs/operators.md)",
  },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/sessions/oidc",
    why: "signing in through the organisation's OpenID provider: sends the browser there; begun sign-ins are bounded per address",
  },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/sessions/oidc/callback",
    why: "the provider's redirect back: only a state this control plane began for this browser, once, opens a session",
  },
  {
    service: "control plane",
    method: "GET",
    path: "/v1/sessions/current",
    why: "answers only about the session whose token is sent",
  },
  {
    service: "control plane",
    method: "DELETE",
    path: "/v1/sessions/current",
    why: "ends only the session whose token is sent",
  },
  {
    service: "collector",
    method: "GET",
    path: "/v1/region",
    why: "the region's descriptor: the key devices seal to and the markets it takes",
  },
  ...(["/v1/activations", "/v1/diagnostics", "/v1/updates/check", "/v1/updates/report"] as const).map(
    (path): PublicRoute => ({
      service: "collector",
      method: "POST",
      path,
      why: "devices send here: an envelope counts only when a registered device key signed it",
    }),
  ),
  {
    service: "collector",
    method: "GET",
    path: "/v1/notices/{purpose}",
    why: "the consent notice shown before an owner is asked",
  },
  {
    service: "collector",
    method: "GET",
    path: "/v1/notices/{purpose}/{version}/{lang}",
    why: "a notice's text, as shown",
  },
  {
    service: "collector",
    method: "GET",
    path: "/v1/receipt-key",
    why: "every key the region signed receipts with: each receipt verifies with the one it names",
  },
  {
    service: "collector",
    method: "GET",
    path: "/v1/receipt-keys",
    why: "the same key set, by its own name: receipt keys rotate and every one stays published",
  },
  {
    service: "collector",
    method: "GET",
    path: "/v1/consent/receipt-key",
    why: "the same key, where consent clients look",
  },
];
