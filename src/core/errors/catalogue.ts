/**
 * The one registry of error codes. Every code the system can return is here,
 * with its HTTP status and the sentence `docs/errors.md` must carry for it.
 * `errors.test.ts` keeps the two equal.
 */
export const ERRORS = {
  "request.invalid": {
    status: 400,
    doc: "The request body, query or parameters do not match the route's schema. `path` names the first offending field.",
  },
  "request.malformed": { status: 400, doc: "The body is not valid JSON." },
  "request.too_large": {
    status: 413,
    doc: "The body is larger than the route accepts (each route's limit is in the OpenAPI document, `x-body-limit`), or the headers are larger than 16 KiB. Nothing of it was read further.",
  },
  "request.timeout": {
    status: 408,
    doc: "The request's headers, or its whole body, did not arrive within the service's time (`http.headersTimeoutMs`, `http.requestTimeoutMs`); the connection is closed.",
  },
  "request.unsupported_media_type": { status: 415, doc: "The body is not `application/json`." },
  "route.not_found": { status: 404, doc: "No route answers this method and path." },
  "auth.service_token_invalid": {
    status: 401,
    doc: "A service-to-service route (such as the fleet directory lookup) was called without the bearer service token, or with a wrong one.",
  },
  "auth.required": {
    status: 401,
    doc: "An operator route was called without the service token or a live operator session (sign in with `POST /v1/sessions`).",
  },
  "auth.forbidden": {
    status: 403,
    doc: "The operator's role may not use this route; the message names the permission and the roles that hold it (docs/operators.md). Nothing changed.",
  },
  "auth.sign_in_failed": {
    status: 401,
    doc: "The username or the password is wrong, or the operator is disabled (which one is not said). No session was opened.",
  },
  "auth.sign_in_throttled": {
    status: 429,
    doc: "Too many failed sign-ins for this username from this address, from this address, or for this username, within the window (`signIn.*`, docs/operators.md); the password was not checked. `Retry-After` says when to try again. A lockout is in the audit log (`sign_in.locked`).",
  },
  "auth.session_invalid": {
    status: 401,
    doc: "The bearer token is not a live operator session: unknown, expired, signed out, or its operator disabled. Sign in again.",
  },
  "auth.local_sign_in_disabled": {
    status: 403,
    doc: "Operators sign in through the OpenID provider here (`controlPlane.oidc`): password sign-in is turned off (`localSignIn: none`), or kept for local admins only, the break-glass account (`localSignIn: admin`). No session was opened.",
  },
  "auth.oidc_not_configured": {
    status: 404,
    doc: "No OpenID provider is configured for the control plane (`controlPlane.oidc`): operators sign in with a password (`POST /v1/sessions`).",
  },
  "auth.oidc_state_invalid": {
    status: 400,
    doc: "The sign-in's `state` is not one this control plane began for this browser, was used already, or is older than 10 minutes: a forged or replayed callback. Nothing was created; sign in again from the console.",
  },
  "auth.oidc_failed": {
    status: 401,
    doc: "The OpenID provider refused the sign-in (the message carries its `error`), or its answer did not verify: the code exchange with the PKCE verifier failed, or the ID token's issuer, audience, nonce, signature or time is wrong. Nothing was created.",
  },
  "auth.oidc_no_role": {
    status: 403,
    doc: "The provider signed the person in, but its role claim (`controlPlane.oidc.roleClaim`) holds no value the configuration maps to a phonehome role. No operator or session was created; ask the provider's administrators for a group that maps to a role.",
  },
  "auth.oidc_unavailable": {
    status: 503,
    doc: "The OpenID provider could not be reached or its discovery document is unusable (`controlPlane.oidc.issuer`); local admins can still sign in with a password unless `localSignIn` is `none`.",
  },
  "envelope.invalid": {
    status: 400,
    doc: "The envelope's clear header is incomplete or malformed (collection, versions, ids, time, encoded seal, signature).",
  },
  "envelope.collection_mismatch": {
    status: 400,
    doc: "The envelope names a collection that this endpoint does not take (e.g. a diagnostics envelope sent to `/v1/activations`).",
  },
  "envelope.stale": {
    status: 400,
    doc: "The envelope's `sentAt` lies too far in the future for the collector's clock.",
  },
  "device.unknown": {
    status: 403,
    doc: "No device was provisioned at the factory with the key that the envelope names.",
  },
  "device.revoked": {
    status: 403,
    doc: "The key that signed the envelope was revoked in the fleet registry (cloned, stolen, key compromised, or replaced at a re-key; docs/fleet.md). Nothing was stored; the refusal is counted in the ingest ledger. Collectors learn of a revocation within the bound docs/collector.md states.",
  },
  "signature.invalid": {
    status: 403,
    doc: "The envelope's Ed25519 signature does not verify against the device's provisioned public key.",
  },
  "region.misrouted": {
    status: 403,
    doc: "The device's market belongs to another region. Nothing of the payload was opened or stored; the refusal is counted in the ingest ledger and raised as a misrouting alert naming the batch and build.",
  },
  "seal.invalid": {
    status: 400,
    doc: "The envelope's `kid` names no key this region has (after a reload of the region's keys), or the seal does not open (wrong key, tampered ciphertext or header).",
  },
  "envelope.key_expired": {
    status: 400,
    doc: "The payload is sealed to a region key that has ended (its `notAfter` has passed; the previous key is opened only until the end of its overlap). Nothing was opened or stored; the refusal is counted in the ingest ledger. Seal to the key `GET /v1/region` names now.",
  },
  "collection.unknown": { status: 400, doc: "The data dictionary has no collection of that name." },
  "collection.version_unknown": {
    status: 400,
    doc: "The data dictionary has the collection, but no version of the envelope's `schemaVersion`. Nothing was stored.",
  },
  "collection.unapproved": {
    status: 400,
    doc: "The collection version exists but is not approved — no approval record, an unsigned one, a signature that does not verify with a listed reviewer's key, one by the version's own author, or a version changed since it was approved (the message says which) — or it is not accepted in this region; collectors store only approved versions.",
  },
  "collection.expired": {
    status: 400,
    doc: "The collection version's approval has an end date (`approval.expires`) that has passed; collectors refuse its data until a review renews the approval. Nothing was stored.",
  },
  "payload.malformed": { status: 400, doc: "The opened payload is not a JSON object." },
  "payload.undeclared_field": {
    status: 400,
    doc: "The payload carries a field that the approved collection version does not declare. `path` names it. Nothing is stored.",
  },
  "payload.invalid": {
    status: 400,
    doc: "A declared field is missing, of the wrong type or out of its declared bounds. `path` names it.",
  },
  "payload.device_mismatch": {
    status: 400,
    doc: "The payload describes another device than the one whose key signed it (serial, model, variant or market differ from the factory record).",
  },
  "auth.owner_token_invalid": {
    status: 401,
    doc: "The owner token is missing, malformed, signed with another algorithm, expired, not valid yet, lives longer than an hour, names no provisioned device, does not verify against that device's key, or was minted before the device's data was last erased (docs/owners.md). The message says which, in plain words.",
  },
  "auth.owner_token_revoked": {
    status: 403,
    doc: "The owner token is signed by a device key that was revoked in the fleet registry (docs/owners.md); no token of that key opens anything again. A re-keyed device mints tokens with its new key.",
  },
  "consent.required": {
    status: 403,
    doc: "The collection is stored only under the owner's consent, and there is none in force for this device (never given, refused, withdrawn, or given under a notice narrower than the current one). Nothing of the batch was stored.",
  },
  "consent.purpose_unknown": {
    status: 404,
    doc: "No notice is published for that purpose, so there is nothing an owner could consent to.",
  },
  "consent.notice_outdated": {
    status: 409,
    doc: "The decision names a notice version that is not the purpose's current one. Show the owner the current notice (`GET /v1/notices/{purpose}`) and send its version. Nothing was recorded.",
  },
  "consent.language_unavailable": {
    status: 400,
    doc: "The current notice has no text in the language the decision names, so the owner cannot have been shown it. Nothing was recorded.",
  },
  "consent.wrong_region": {
    status: 403,
    doc: "The device's home region is another one: a consent is recorded only in the region that holds the device's data. Nothing was recorded; ask the home region.",
  },
  "notice.not_found": {
    status: 404,
    doc: "The purpose has no notice of that version in that language.",
  },
  "subject_request.incomplete": {
    status: 502,
    doc: "A subject request (access or erasure) could not be carried out in every region: a region could not be reached, refused, or answered a receipt that does not verify with its published key. Each such region is listed in `problems` with the reason. The receipts of the other regions are stored and the request is recorded as incomplete; send it again with the same `requestId` to ask the missing regions.",
  },
  "subject_request.not_found": {
    status: 404,
    doc: "The device has no subject request of that id. A token opens its own device's requests only; another device's request is answered the same way.",
  },
  "subject_request.conflict": {
    status: 409,
    doc: "The `requestId` already names a request of another device (or of another kind). Nothing was changed; use a new request id.",
  },
  "owner.cursor_invalid": {
    status: 400,
    doc: "The `cursor` of `GET /v1/owner/data/records` is not one this region gave for this device's export: malformed, changed, made by another region, or given to another device (a cursor is bound to the device whose token asked for the export). Nothing was read; start again from `GET /v1/owner/data`.",
  },
  "keys.differ": {
    status: 500,
    doc: "A replica's secrets (the region's key-wrapping secret, under which its keys are stored; its pseudonym secret; the service token; the fleet roots devices trust, `keys/fleet-trust.json`) are not the ones its store was started with: its data directory was not copied from the other replicas. `problems` names each that differs, by fingerprint (never the secret). The replica does not start; copy `keys/` and `secrets/` from a running replica of the service. Printed at start, never served.",
  },
  "keys.descriptor_refused": {
    status: 400,
    doc: "A region descriptor posted to `POST /v1/keys/descriptor` was refused: it is not a descriptor signed by the fleet root in use (the last root of the collector's fleet trust), or its statement is not exactly the one the collector prepared (region, storedIn, url, and every key with its validity). Nothing changed; the refusal is in the region's audit log (`keys.rotation_refused`).",
  },
  "keys.root_key_invalid": {
    status: 400,
    doc: "The root key file given to `phonehome keys` cannot be read or does not hold a fleet root key whose halves agree, or (rolling over) the file to write exists already. Nothing was signed or written.",
  },
  "config.invalid": {
    status: 500,
    doc: "The configuration file has problems; each is listed. Printed at start, never served.",
  },
  "dictionary.invalid": {
    status: 500,
    doc: "The data dictionary does not pass its lint; each problem is listed. Printed by `registry check` and at start.",
  },
  "notice.invalid": {
    status: 500,
    doc: "The consent notices folder has problems (front matter, file names, scope, versions, coverage of consent-based collections); each is listed. Printed at start, never served.",
  },
  "fleet.import_invalid": {
    status: 400,
    doc: "A factory file has bad rows; every bad row is listed with its line and field, and nothing was imported.",
  },
  "fleet.not_found": {
    status: 404,
    doc: "No model, variant, batch, build or device of that id is registered.",
  },
  "fleet.key_revoked": {
    status: 409,
    doc: "The device has no key in force: every key it had is revoked already, so there is nothing to revoke. A service centre can re-key it (docs/fleet.md). Nothing changed.",
  },
  "fleet.key_registered": {
    status: 409,
    doc: "A re-key named a public key that is, or was, registered to a device (this one or another); every key belongs to one device, once. Nothing changed.",
  },
  "release.sbom_invalid": {
    status: 400,
    doc: "The build manifest is not a CycloneDX JSON SBOM the release gate reads: not JSON, not `bomFormat: CycloneDX`, a `specVersion` before 1.4, or a document the CycloneDX schema of its version refuses (`problems` lists the schema's complaints). Nothing was checked or stored; `phonehome release check` exits 2.",
  },
  "release.policy_invalid": {
    status: 500,
    doc: "The package policy file cannot be read or does not match its schema (`problems` lists each fault). The gate does not run without it; `phonehome release check` exits 2.",
  },
  "release.variant_ambiguous": {
    status: 400,
    doc: "A variant id names variants of several models: say which with `model` (`--model`, or `--variant MODEL/VARIANT`).",
  },
  "release.unchecked": {
    status: 409,
    doc: "The build has no manifest: register its SBOM (`PUT /v1/builds/{number}`) so that the release gate can check it before it is released.",
  },
  "release.blocked": {
    status: 409,
    doc: "The release gate blocked the build for its variant; `problems` lists every finding. Nothing was released. Ship a build that passes, or force the release with a reason (kept with the build).",
  },
  "release.already_released": {
    status: 409,
    doc: "The build is released; its manifest can no longer change. Register a new build number.",
  },
  "rollout.invalid": {
    status: 409,
    doc: "The rollout cannot start or take that step: the build is not released, has no lineage, is withdrawn or already rolling out; or the rollout is complete, or not in a state the step applies to. Nothing changed.",
  },
  "advisory.invalid": {
    status: 400,
    doc: "The advisory cannot be published as asked: its id exists, a fixing build is unknown, has no lineage, is not released or is of a variant the advisory does not affect, or two fixes share a lineage. `path` names the field. Nothing was published.",
  },
  "incident.invalid": {
    status: 400,
    doc: "The incident cannot be opened or changed as asked: its scope names no batch, build or market, names one that is not registered, selects no device, or its window ends before it starts; a data category is not in the taxonomy; the advisory does not exist; or the incident is closed. `path` names the field. Nothing changed.",
  },
  "incident.not_found": {
    status: 404,
    doc: "No incident (or no notice of the incident) has that id.",
  },
  "audit.not_anchored": {
    status: 404,
    doc: "The control plane has not anchored any head of that region's audit log yet (it does so every `audit.anchorIntervalSeconds`, and on `POST /v1/audit-log/anchors`).",
  },
  "support.reason_required": {
    status: 400,
    doc: "Opening a device's data needs a stated reason: at least 10 characters that say why (the support case, what the owner asked). Nothing was opened.",
  },
  "review.invalid": {
    status: 400,
    doc: "The proposal or the decision cannot be taken as asked: the proposed version breaks a rule of the dictionary (`problems` lists each, as `registry check` would), carries an approval record, or misses an answer of the questionnaire; or the approval's date is not today (UTC), or its end is not after it. `path` names the field. Nothing changed.",
  },
  "review.conflict": {
    status: 409,
    doc: "The version cannot be proposed: it is approved already with other content (an approved version is never edited: propose the next version), or it has an open proposal. Nothing changed.",
  },
  "review.not_found": { status: 404, doc: "No proposal has that id." },
  "review.decided": {
    status: 409,
    doc: "The proposal is approved or rejected already; a decision is taken once. Propose again to renew or change it.",
  },
  "review.own_change": {
    status: 403,
    doc: "The reviewer is the proposal's author: nobody approves or rejects their own change. Another privacy reviewer must decide. Nothing changed.",
  },
  "review.signature_invalid": {
    status: 400,
    doc: "The approval's signature does not verify with any key the reviewer has registered (`POST /v1/reviewer-keys`), over the statement this proposal makes; or the reviewer has registered none. Nothing changed.",
  },
  "review.key_not_found": {
    status: 404,
    doc: "No reviewer registered that public key (or, for a replacement, the session's operator did not). Nothing changed.",
  },
  "review.key_revoked": {
    status: 409,
    doc: "The reviewer's key is revoked: it signs no new approval (the approvals recorded with it before stay valid), and a revoked key is not revoked again. Register a new key (`phonehome review key`). Nothing changed.",
  },
  "operator.invalid": {
    status: 400,
    doc: "The operator cannot be added as asked: a username that is malformed or taken, an unknown role, an empty name, or a password shorter than 12 characters. `path` names the field. Nothing was added.",
  },
  "purge.invalid": {
    status: 400,
    doc: "A purge request cannot be carried out as asked: an unknown region, collection or version, a field the dictionary never declared for that collection, an empty window (`from` not before `to`), no reason for a surgical purge, or surgical options without `--collection`. Nothing was removed.",
  },
  "capture.unreadable": {
    status: 422,
    doc: "`phonehome audit`: the file is not a pcap, pcapng or HAR capture, or it is corrupt (a record length beyond reason, inconsistent blocks); the message names the byte offset. Exit 2; nothing is reported.",
  },
  "capture.truncated": {
    status: 422,
    doc: "`phonehome audit`: the capture ends inside a record (a capture cut short). What it held up to there is reported, then the command exits 2.",
  },
  "capture.unsupported": {
    status: 422,
    doc: "`phonehome audit`: a capture, but of a kind the reader does not decode (its link type or compression); the message names it. Exit 2.",
  },
  "audit.invalid": {
    status: 400,
    doc: "`phonehome audit` cannot run as asked: an unknown region, a malformed country code or `--assume-country`, an unreadable known-identifiers file or country database, no capture named, or `--capture` without tcpdump or dumpcap. `path` names the option. Exit 2.",
  },
  "backup.invalid": {
    status: 400,
    doc: "`phonehome backup` or `restore` cannot run as asked: neither or both of `--region` and `--control-plane`, an unknown region, an `--out` file that exists already, an in-memory store (`memory://`), or a store that holds no phonehome store (never started). Nothing was written or changed.",
  },
  "backup.tool_missing": {
    status: 500,
    doc: "A PostgreSQL store is copied by PostgreSQL's own `pg_dump` and `pg_restore`, and the one needed is neither on PATH nor under `/usr/lib/postgresql/<version>/bin`. Install PostgreSQL's client programs, of the server's major version or newer. Nothing was written or changed.",
  },
  "backup.failed": {
    status: 500,
    doc: "`pg_dump`, `pg_restore` or PGlite failed; the message gives the tool's own last words. A backup leaves no file behind; a restore leaves the store as it was (should putting it back fail too, the message names the schema that holds its previous content).",
  },
  "backup.unreadable": {
    status: 422,
    doc: "The file is not a phonehome backup, is of a format version this phonehome does not read, its manifest does not match its schema, or its copy is cut short or changed (its size or SHA-256 is not the manifest's). Nothing was changed.",
  },
  "backup.wrong_store": {
    status: 409,
    doc: "The file is a backup of another store than the one named: another region, the control plane's instead of a region's (or the reverse), the other kind of store (an embedded store's copy goes into an embedded store, a PostgreSQL one into PostgreSQL), another PostgreSQL schema, or a store at a migration newer than this phonehome's. Nothing was changed.",
  },
  "backup.target_not_empty": {
    status: 409,
    doc: "The store to restore into holds data (the message says what: its tables, rows and audit head); `restore --force` replaces it. A folder that holds files but no embedded store is never replaced. Nothing was changed.",
  },
  "backup.verify_failed": {
    status: 500,
    doc: "The restored copy does not match its backup's manifest: a table's row count, or its audit chain (`problems` lists each difference). The copy was discarded before it replaced anything; the store is as it was.",
  },
  "store.locked": {
    status: 409,
    doc: "The embedded (PGlite) store is open in another process (a running collector or control plane, or a command such as `phonehome purge` or `fleet import`), or another purge of the region is running. The message names the process. Nothing was changed; stop it, or try again when it ends.",
  },
  "service.unavailable": {
    status: 503,
    doc: "The service is starting, shutting down or cannot reach its store (down, failing over, frozen past its timeouts); `Retry-After` says how many seconds to wait. Nothing was acknowledged: send it again.",
  },
  internal: {
    status: 500,
    doc: "An unexpected fault. Nothing was acknowledged; the request can be retried. The log has the details.",
  },
} as const satisfies Record<string, { status: number; doc: string }>;

/** A stable error code, as it appears in responses and in `docs/errors.md`. */
export type ErrorCode = keyof typeof ERRORS;
