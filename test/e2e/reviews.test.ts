/**
 * The review workflow end to end, on PGlite and PostgreSQL: collectors refuse
 * an unsigned or self-approved version and an expired one; on the running
 * control plane an author proposes (a renewal, and a wider version) with the
 * questionnaire's answers, nobody decides on their own change, a reviewer's
 * signature must verify with the key they registered, and every step is in
 * the audit log; `review apply` writes the approvals into the dictionary,
 * `registry check` passes on it, and collectors started on it accept both
 * versions.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { approvalStatement, publicKeyText, signStatement } from "../../src/core/dictionary/approval.ts";
import { listLedger } from "../../src/collector/ingest/ledger.repository.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import {
  REVIEW_ANSWERS as ANSWERS,
  SHIPPED_DICTIONARY,
  signed,
  TEST_REVIEWER,
} from "../helpers/dictionary.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import {
  callControlPlane,
  OPERATOR_PASSWORD,
  signedInOperators,
  startTestSystem,
  type TestSystem,
  writeCliConfig,
} from "../helpers/system.ts";

/** A copy of the shipped dictionary, with `edit` applied to activation's files; `TEST_REVIEWER` is listed. */
function dictionaryWith(
  edit: (activation: Record<string, unknown>) => Record<string, Record<string, unknown>>,
): string {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-reviews-"));
  cpSync(SHIPPED_DICTIONARY, dir, { recursive: true });
  const reviewers = parse(readFileSync(join(dir, "reviewers.yaml"), "utf8")) as { reviewers: object[] };
  reviewers.reviewers.push({
    username: TEST_REVIEWER.username,
    name: TEST_REVIEWER.name,
    publicKey: TEST_REVIEWER.publicKey,
  });
  writeFileSync(join(dir, "reviewers.yaml"), stringify(reviewers));
  const activation = parse(readFileSync(join(dir, "activation", "v1.yaml"), "utf8")) as Record<
    string,
    unknown
  >;
  for (const [file, doc] of Object.entries(edit(activation)))
    writeFileSync(join(dir, "activation", file), stringify(doc));
  return dir;
}

/** Activation v`version` with a fresh approval (signed by `TEST_REVIEWER` unless `sign` is false). */
function activationWith(
  activation: Record<string, unknown>,
  approval: Record<string, string>,
  version = 1,
): Record<string, unknown> {
  return signed({
    ...activation,
    version,
    approval: { reviewer: TEST_REVIEWER.username, reference: "REV-T", ...approval },
  });
}

for (const backend of BACKENDS) {
  describe(`the review workflow on ${backend.name}`, { skip: backend.skip }, () => {
    const folders: string[] = [];
    after(() => {
      for (const dir of folders) rmSync(dir, { recursive: true, force: true });
    });

    test("collectors refuse an unsigned and a self-approved version", async () => {
      const dir = dictionaryWith((activation) => {
        const { signature: _, ...unsigned } = activation.approval as Record<string, string>;
        return {
          "v1.yaml": { ...activation, approval: unsigned },
          "v2.yaml": activationWith(activation, { date: "2026-01-10", author: TEST_REVIEWER.username }, 2),
        };
      });
      folders.push(dir);
      const t = await startTestSystem(backend, { extra: { dictionary: dir } });
      try {
        const { device, global } = await deviceInNorway(t);
        const v1 = await post(`${global.url}/v1/activations`, await buildEnvelope(device));
        assert.deepEqual([v1.status, v1.body.error?.code], [400, "collection.unapproved"]);
        assert.match(v1.body.error?.message ?? "", /not signed/);
        const v2 = await post(
          `${global.url}/v1/activations`,
          await buildEnvelope(device, { header: { schemaVersion: 2 } }),
        );
        assert.deepEqual([v2.status, v2.body.error?.code], [400, "collection.unapproved"]);
        assert.match(v2.body.error?.message ?? "", /approved by its own author \(a\.reviewer\)/);
        assert.deepEqual((await t.activationsByRegion()).get("global"), []);
      } finally {
        await t.close();
      }
    });

    test("an expired version is refused; renewed and widened through reviews, collectors accept both", async () => {
      const dir = dictionaryWith((activation) => ({
        "v1.yaml": activationWith(activation, {
          date: "2024-01-10",
          expires: "2025-01-10",
          author: "maintainers",
        }),
      }));
      folders.push(dir);
      const cliDir = mkdtempSync(join(tmpdir(), "phonehome-reviews-cli-"));
      folders.push(cliDir);
      const t = await startTestSystem(backend, { extra: { dictionary: dir } });
      try {
        const { device, global } = await deviceInNorway(t);
        const expired = await post(`${global.url}/v1/activations`, await buildEnvelope(device));
        assert.deepEqual([expired.status, expired.body.error?.code], [400, "collection.expired"]);
        const refused = (await listLedger(global.db, new Date(0), 100)).filter(
          (r) => r.reason === "collection.expired",
        );
        assert.equal(
          refused.reduce((n, r) => n + r.count, 0),
          1,
        );

        const tokens = await signedInOperators(t, {
          kari: "operator",
          anna: "privacy-reviewer",
          per: "privacy-reviewer",
        });
        const session = (username: string) => tokens.get(username) ?? "";
        const config = join(cliDir, "config.json");
        writeCliConfig(t, config);
        const cli = (args: string[], input?: string) =>
          phonehomeAsync(["--config", config, ...args], { input });
        // anna registers her key through the API; per makes his with the CLI, signed in with it too.
        const anna = generateKeyPairSync("ed25519")
          .privateKey.export({ format: "pem", type: "pkcs8" })
          .toString();
        const added = await callControlPlane(
          t,
          "POST",
          "/v1/reviewer-keys",
          { publicKey: publicKeyText(anna) },
          session("anna"),
        );
        assert.equal(added.status, 200, JSON.stringify(added.body));
        const perSession = join(cliDir, "per-session");
        const signIn = await cli(
          ["session", "open", "--username", "per", "--session", perSession],
          `${OPERATOR_PASSWORD}\n`,
        );
        assert.equal(signIn.status, 0, signIn.stderr);
        assert.match(signIn.stdout, /^signed in as per \(privacy-reviewer\) until /);
        const perKey = join(cliDir, "per.pem");
        const made = await cli(["review", "key", "--key-file", perKey, "--session", perSession]);
        assert.equal(made.status, 0, made.stderr);
        const per = readFileSync(perKey, "utf8");
        assert.match(made.stdout, new RegExp(`registered its public key ${publicKeyText(per)}`));
        const remade = await cli(["review", "key", "--key-file", perKey, "--session", perSession]);
        assert.equal(remade.status, 2, "a reviewer's key is never overwritten");
        assert.equal(readFileSync(perKey, "utf8"), per);
        // A key is a person's: the service token registers none, and an operator's role none.
        assert.equal(
          (await callControlPlane(t, "POST", "/v1/reviewer-keys", { publicKey: publicKeyText(anna) })).status,
          403,
        );

        const activation = parse(readFileSync(join(dir, "activation", "v1.yaml"), "utf8")) as Record<
          string,
          unknown
        >;
        const { approval: _, ...content } = activation;

        // Bad proposals change nothing.
        const auditBefore = await auditActions(t);
        const bad: [Record<string, unknown>, number, string][] = [
          [{ document: content, answers: { ...ANSWERS, thirdParties: undefined } }, 400, "request.invalid"],
          [{ document: activation, answers: ANSWERS }, 400, "review.invalid"],
          [
            { document: { ...content, version: 2, purpose: "marketing.advertising" }, answers: ANSWERS },
            400,
            "review.invalid",
          ],
          [{ document: { ...content, retention: "P7Y" }, answers: ANSWERS }, 409, "review.conflict"],
        ];
        for (const [body, status, code] of bad) {
          const answer = await callControlPlane<{ error?: { code: string } }>(
            t,
            "POST",
            "/v1/proposals",
            JSON.parse(JSON.stringify(body)),
            session("kari"),
          );
          assert.deepEqual(
            [answer.status, answer.body.error?.code],
            [status, code],
            JSON.stringify(answer.body),
          );
        }
        const none = await callControlPlane<{ proposals: unknown[] }>(
          t,
          "GET",
          "/v1/proposals",
          undefined,
          session("kari"),
        );
        assert.deepEqual(none.body.proposals, []);
        assert.deepEqual(await auditActions(t), auditBefore);

        // kari proposes a renewal of v1 (the same content); per proposes v2, kept two years longer.
        const renewal = await propose(t, session("kari"), content);
        assert.deepEqual(
          renewal.changes.map((c) => c.kind),
          ["renewal"],
        );
        assert.equal(renewal.baseVersion, 1);
        const wider = await propose(t, session("per"), { ...content, version: 2, retention: "P7Y" });
        assert.deepEqual(
          wider.changes.map((c) => [c.kind, c.text, c.widens]),
          [["retention.wider", "wider retention: P5Y → P7Y", true]],
        );
        assert.match(wider.diff, /^-retention: P5Y$/m);
        assert.match(wider.diff, /^\+retention: P7Y$/m);
        const again = await callControlPlane<{ error?: { code: string } }>(
          t,
          "POST",
          "/v1/proposals",
          { document: content, answers: ANSWERS },
          session("per"),
        );
        assert.deepEqual(
          [again.status, again.body.error?.code],
          [409, "review.conflict"],
          "one open proposal per version",
        );

        const sign = (p: Proposal, reviewer: string, pem: string, expires?: string) => {
          const date = new Date().toISOString().slice(0, 10);
          const statement = approvalStatement(p.collection, p.version, {
            reviewer,
            author: p.author,
            date,
            reference: p.id,
            expires,
            sha256: p.sha256,
          });
          return {
            date,
            signature: signStatement(statement, pem),
            ...(expires === undefined ? {} : { expires }),
          };
        };
        // Nobody decides on their own change; an operator may not review; a signature must be the reviewer's own.
        const own = await decide(t, session("per"), wider, { comment: "fine", ...sign(wider, "per", per) });
        assert.deepEqual([own.status, own.body.error?.code], [403, "review.own_change"]);
        const ownReject = await callControlPlane<{ error?: { code: string } }>(
          t,
          "POST",
          `/v1/proposals/${wider.id}/rejection`,
          { comment: "no" },
          session("per"),
        );
        assert.deepEqual([ownReject.status, ownReject.body.error?.code], [403, "review.own_change"]);
        const byOperator = await decide(t, session("kari"), wider, {
          comment: "fine",
          ...sign(wider, "kari", anna),
        });
        assert.deepEqual([byOperator.status, byOperator.body.error?.code], [403, "auth.forbidden"]);
        const forged = await decide(t, session("anna"), renewal, {
          comment: "fine",
          ...sign(renewal, "anna", per),
        });
        assert.deepEqual([forged.status, forged.body.error?.code], [400, "review.signature_invalid"]);
        const otherStatement = await decide(t, session("anna"), renewal, {
          comment: "fine",
          ...sign(renewal, "anna", anna, "2099-12-31"),
          expires: "2098-12-31",
        });
        assert.deepEqual(
          [otherStatement.status, otherStatement.body.error?.code],
          [400, "review.signature_invalid"],
        );

        const renewed = await decide(t, session("anna"), renewal, {
          comment: "Same content; the warranty terms have not changed.",
          ...sign(renewal, "anna", anna, "2099-12-31"),
        });
        assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
        // anna reads per's proposal and approves it with the CLI, which signs on her side.
        const annaSession = join(cliDir, "anna-session");
        writeFileSync(annaSession, session("anna"));
        const annaKey = join(cliDir, "anna.pem");
        writeFileSync(annaKey, anna, { mode: 0o600 });
        const shown = await cli(["review", "show", wider.id, "--session", annaSession]);
        assert.equal(shown.status, 0, shown.stderr);
        assert.match(shown.stdout, /^ {2}! wider retention: P5Y → P7Y$/m);
        assert.match(shown.stdout, /Why will less data not do\?\n {4}Without the serial and the day/);
        assert.match(shown.stdout, /^\+retention: P7Y$/m);
        const widened = await cli([
          "review",
          "approve",
          wider.id,
          "--comment",
          "Norway's limitation period for consumer purchases needs it.",
          "--key-file",
          annaKey,
          "--session",
          annaSession,
        ]);
        assert.equal(widened.status, 0, widened.stderr + widened.stdout);
        assert.match(widened.stdout, new RegExp(`^${wider.id} {2}activation v2 {2}approved`, "m"));
        const twice = await decide(t, session("per"), renewal, {
          comment: "again",
          ...sign(renewal, "per", per),
        });
        assert.deepEqual([twice.status, twice.body.error?.code], [409, "review.decided"]);

        const log = await callControlPlane<{
          entries: { action: string; actor: string; subject: string; reason: string | null }[];
        }>(t, "GET", "/v1/audit-log", undefined);
        const steps = log.body.entries
          .filter((e) => e.action.startsWith("dictionary.") || e.action === "reviewer.key_added")
          .map((e) => [e.action, e.actor, e.subject, e.reason]);
        assert.deepEqual(steps, [
          ["reviewer.key_added", "operator:anna", "anna", null],
          ["reviewer.key_added", "operator:per", "per", null],
          ["dictionary.proposed", "operator:kari", renewal.id, null],
          ["dictionary.proposed", "operator:per", wider.id, null],
          [
            "dictionary.approved",
            "operator:anna",
            renewal.id,
            "Same content; the warranty terms have not changed.",
          ],
          [
            "dictionary.approved",
            "operator:anna",
            wider.id,
            "Norway's limitation period for consumer purchases needs it.",
          ],
        ]);

        // `review apply` writes both into the dictionary, as the signed-in author would.
        const sessionFile = join(cliDir, "session");
        writeFileSync(sessionFile, session("kari"));
        for (const id of [renewal.id, wider.id]) {
          const run = await phonehomeAsync([
            "--config",
            config,
            "review",
            "apply",
            id,
            "--dictionary",
            dir,
            "--session",
            sessionFile,
          ]);
          assert.equal(run.status, 0, run.stderr + run.stdout);
          assert.match(run.stdout, /registry check: the version is approved/);
        }
        const v1 = parse(readFileSync(join(dir, "activation", "v1.yaml"), "utf8")) as {
          approval: Record<string, string>;
        };
        assert.deepEqual(
          [v1.approval.reviewer, v1.approval.author, v1.approval.reference, v1.approval.expires],
          ["anna", "kari", renewal.id, "2099-12-31"],
        );
        const reviewers = parse(readFileSync(join(dir, "reviewers.yaml"), "utf8")) as {
          reviewers: { username: string }[];
        };
        assert.deepEqual(
          reviewers.reviewers.filter((r) => r.username === "anna").length,
          1,
          "anna's key, once",
        );
        const check = await phonehomeAsync(["registry", "check", "--dictionary", dir]);
        assert.equal(check.status, 0, check.stdout);
      } finally {
        await t.close();
      }

      const renewedSystem = await startTestSystem(backend, { extra: { dictionary: dir } });
      try {
        const { device, global } = await deviceInNorway(renewedSystem);
        const v1 = await post(`${global.url}/v1/activations`, await buildEnvelope(device));
        assert.equal(v1.status, 201, JSON.stringify(v1.body));
        const [other] = await renewedSystem.provision([{ market: "NO" }]);
        assert.ok(other);
        const v2 = await post(
          `${global.url}/v1/activations`,
          await buildEnvelope(other, { header: { schemaVersion: 2 } }),
        );
        assert.equal(v2.status, 201, JSON.stringify(v2.body));
      } finally {
        await renewedSystem.close();
      }
    });
  });
}

interface Proposal {
  id: string;
  collection: string;
  version: number;
  sha256: string;
  author: string;
  baseVersion: number | null;
  changes: { kind: string; text: string; widens: boolean }[];
  diff: string;
}

async function propose(t: TestSystem, token: string, document: Record<string, unknown>): Promise<Proposal> {
  const answer = await callControlPlane<Proposal>(
    t,
    "POST",
    "/v1/proposals",
    { document, answers: ANSWERS },
    token,
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

function decide(t: TestSystem, token: string, p: Proposal, body: Record<string, unknown>) {
  return callControlPlane<{ error?: { code: string } }>(
    t,
    "POST",
    `/v1/proposals/${p.id}/approval`,
    body,
    token,
  );
}

async function auditActions(t: TestSystem): Promise<string[]> {
  const log = await callControlPlane<{ entries: { action: string }[] }>(t, "GET", "/v1/audit-log");
  return log.body.entries.map((e) => e.action);
}

/** A device provisioned for Norway, and its home region (global). */
async function deviceInNorway(t: TestSystem) {
  const [device] = await t.provision([{ market: "NO" }]);
  const global = t.system.regions.find((r) => r.id === "global");
  assert.ok(device && global);
  return { device, global };
}
