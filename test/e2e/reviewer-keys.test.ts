/**
 * A reviewer's key revoked and replaced, on PGlite and PostgreSQL: only its
 * owner or an admin revokes it; the control plane then refuses every new
 * signature by it, backdated or not; `review key revoke` writes the revocation
 * into reviewers.yaml with the approvals recorded before it, which stay
 * valid; a backdated approval a thief signs with the key after the revocation
 * and writes into the dictionary is refused by `registry check` and the
 * collectors' loader, while the dictionary still loads; a replacement key
 * revokes the old one in the same step and signs from then on; every step is
 * in the audit log.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { approvalStatement, publicKeyText, signStatement } from "../../src/core/dictionary/approval.ts";
import { versionDigest } from "../../src/core/dictionary/lint.ts";
import { lintDictionary, loadDictionary } from "../../src/core/dictionary/load.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import { REVIEW_ANSWERS as ANSWERS, SHIPPED_DICTIONARY } from "../helpers/dictionary.ts";
import { BACKENDS } from "../helpers/stores.ts";
import type { Proposal as SharedProposal } from "@phonehome/shared";
import { callControlPlane, signedInOperators, startTestSystem, writeCliConfig } from "../helpers/system.ts";

type Proposal = Pick<SharedProposal, "id" | "collection" | "version" | "sha256" | "author">;

interface KeyView {
  username: string;
  publicKey: string;
  revoked?: { at: string; by: string; reason: string; kept: { reference: string; signature: string }[] };
}

const newKey = () =>
  generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();

/** The approval fields a reviewer sends, signed with `pem`, dated `date`. */
function signedApproval(p: Proposal, reviewer: string, pem: string, date: string) {
  const statement = approvalStatement(p.collection, p.version, {
    reviewer,
    author: p.author,
    date,
    reference: p.id,
    sha256: p.sha256,
  });
  return { date, signature: signStatement(statement, pem) };
}

for (const backend of BACKENDS) {
  describe(`reviewer keys on ${backend.name}`, { skip: backend.skip }, () => {
    const folders: string[] = [];
    after(() => {
      for (const dir of folders) rmSync(dir, { recursive: true, force: true });
    });

    test("a revoked key keeps what it signed before and signs nothing new; a replacement takes over", async () => {
      const dir = mkdtempSync(join(tmpdir(), "phonehome-reviewer-keys-"));
      cpSync(SHIPPED_DICTIONARY, dir, { recursive: true });
      const cliDir = mkdtempSync(join(tmpdir(), "phonehome-reviewer-keys-cli-"));
      folders.push(dir, cliDir);
      const t = await startTestSystem(backend, { extra: { dictionary: dir } });
      try {
        const tokens = await signedInOperators(t, {
          kari: "operator",
          anna: "privacy-reviewer",
          per: "privacy-reviewer",
          root: "admin",
        });
        const session = (username: string) => tokens.get(username) ?? "";
        const sessionFile = (username: string) => {
          const file = join(cliDir, `${username}-session`);
          writeFileSync(file, session(username));
          return file;
        };
        const config = join(cliDir, "config.json");
        writeCliConfig(t, config);
        const cli = (args: string[]) => phonehomeAsync(["--config", config, ...args]);
        const api = <T>(method: string, path: string, body: unknown, who: string) =>
          callControlPlane<T & { error?: { code: string; message: string } }>(
            t,
            method,
            path,
            body,
            session(who),
          );

        const anna = newKey();
        const annaKey = publicKeyText(anna);
        assert.equal((await api("POST", "/v1/reviewer-keys", { publicKey: annaKey }, "anna")).status, 200);

        const activation = parse(readFileSync(join(dir, "activation", "v1.yaml"), "utf8")) as Record<
          string,
          unknown
        >;
        const { approval: _, ...content } = activation;
        const propose = async (document: Record<string, unknown>) => {
          const answer = await api<Proposal>("POST", "/v1/proposals", { document, answers: ANSWERS }, "kari");
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          return answer.body;
        };
        const approve = (p: Proposal, who: string, pem: string, date: string) =>
          api<unknown>(
            "POST",
            `/v1/proposals/${p.id}/approval`,
            { comment: "Reviewed.", ...signedApproval(p, who, pem, date) },
            who,
          );
        const today = new Date().toISOString().slice(0, 10);
        const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);

        // Before the revocation: anna approves a renewal of v1, and it is applied to the dictionary.
        const renewal = await propose(content);
        assert.equal((await approve(renewal, "anna", anna, today)).status, 200);
        const applied = await cli([
          "review",
          "apply",
          renewal.id,
          "--dictionary",
          dir,
          "--session",
          sessionFile("kari"),
        ]);
        assert.equal(applied.status, 0, applied.stderr + applied.stdout);
        const wider = await propose({ ...content, version: 2, retention: "P7Y" });

        // Only the key's owner or an admin revokes it; the service token acts for no one.
        const byPer = await api<unknown>(
          "POST",
          `/v1/reviewer-keys/${annaKey}/revocation`,
          { reason: "not mine to say" },
          "per",
        );
        assert.deepEqual([byPer.status, byPer.body.error?.code], [403, "auth.forbidden"]);
        const byService = await callControlPlane<{ error?: { code: string } }>(
          t,
          "POST",
          `/v1/reviewer-keys/${annaKey}/revocation`,
          { reason: "a machine" },
        );
        assert.deepEqual([byService.status, byService.body.error?.code], [403, "auth.forbidden"]);
        const unknown = await api<unknown>(
          "POST",
          `/v1/reviewer-keys/${publicKeyText(newKey())}/revocation`,
          { reason: "never registered" },
          "anna",
        );
        assert.deepEqual([unknown.status, unknown.body.error?.code], [404, "review.key_not_found"]);

        // anna's laptop is stolen: she revokes the key, and the revocation is written into reviewers.yaml.
        const revoked = await cli([
          "review",
          "key",
          "revoke",
          annaKey,
          "--reason",
          "laptop stolen",
          "--dictionary",
          dir,
          "--session",
          sessionFile("anna"),
        ]);
        assert.equal(revoked.status, 0, revoked.stderr + revoked.stdout);
        assert.match(
          revoked.stdout,
          new RegExp(`1 approval recorded before stay valid \\(activation v1 ${renewal.id}\\)`),
        );
        const listed = parse(readFileSync(join(dir, "reviewers.yaml"), "utf8")) as {
          reviewers: {
            username: string;
            publicKey: string;
            revoked?: { reason: string; kept: { reference: string }[] };
          }[];
        };
        const entry = listed.reviewers.find((r) => r.publicKey === annaKey);
        assert.equal(entry?.revoked?.reason, "laptop stolen");
        assert.deepEqual(
          entry.revoked.kept.map((k) => k.reference),
          [renewal.id],
        );
        const twice = await api<unknown>(
          "POST",
          `/v1/reviewer-keys/${annaKey}/revocation`,
          { reason: "again" },
          "anna",
        );
        assert.deepEqual([twice.status, twice.body.error?.code], [409, "review.key_revoked"]);

        // The thief, with the key (and even anna's session), cannot get a new approval recorded, dated today or backdated.
        for (const date of [today, yesterday]) {
          const stolen = await approve(wider, "anna", anna, date);
          assert.deepEqual([stolen.status, stolen.body.error?.code], [409, "review.key_revoked"], date);
        }

        // The thief writes a backdated approval of v2 straight into the dictionary: it is refused, v1 still counts.
        const v2 = { ...content, version: 2, retention: "P7Y" };
        const backdated = {
          reviewer: "anna",
          author: "kari",
          date: "2026-01-05",
          reference: wider.id,
          sha256: versionDigest(v2 as never),
        };
        const statement = approvalStatement("activation", 2, backdated);
        writeFileSync(
          join(dir, "activation", "v2.yaml"),
          stringify({ ...v2, approval: { ...backdated, signature: signStatement(statement, anna) } }),
        );
        const report = lintDictionary(dir, { regions: ["global", "cn"] });
        assert.deepEqual(report.errors, []);
        assert.deepEqual(
          report.refusals.map((r) => [
            r.path.replace(/^.*activation\//, ""),
            /revoked at .*laptop stolen/.test(r.message),
          ]),
          [["v2.yaml:/approval/signature", true]],
        );
        const { dictionary } = loadDictionary(dir, { regions: ["global", "cn"] });
        assert.equal(
          dictionary.get("activation", 1)?.approved,
          true,
          "the approval recorded before still counts",
        );
        assert.equal(dictionary.get("activation", 2)?.approved, false);
        const check = await phonehomeAsync(["registry", "check", "--dictionary", dir]);
        assert.notEqual(check.status, 0, check.stdout);
        assert.match(check.stdout + check.stderr, /revoked at/);
        rmSync(join(dir, "activation", "v2.yaml"));

        // per replaces his key: the old one is revoked in the same step, its file moved aside; the new one signs.
        const perFile = join(cliDir, "per.pem");
        const made = await cli(["review", "key", "--key-file", perFile, "--session", sessionFile("per")]);
        assert.equal(made.status, 0, made.stderr);
        const perOld = publicKeyText(readFileSync(perFile, "utf8"));
        const replaced = await cli([
          "review",
          "key",
          "--key-file",
          perFile,
          "--replace",
          perOld,
          "--reason",
          "routine yearly rotation",
          "--session",
          sessionFile("per"),
        ]);
        assert.equal(replaced.status, 0, replaced.stderr + replaced.stdout);
        const perNew = readFileSync(perFile, "utf8");
        assert.notEqual(publicKeyText(perNew), perOld);
        assert.equal(readdirSync(cliDir).filter((f) => f.startsWith("per.pem.replaced-")).length, 1);
        const keys = await api<{ reviewers: KeyView[] }>("GET", "/v1/reviewer-keys", undefined, "per");
        const state = (key: string) =>
          keys.body.reviewers.find((k) => k.publicKey === key)?.revoked?.reason ?? "live";
        assert.deepEqual(
          [state(annaKey), state(perOld), state(publicKeyText(perNew))],
          ["laptop stolen", "routine yearly rotation", "live"],
        );
        assert.equal((await approve(wider, "per", perNew, today)).status, 200);

        // An admin revokes anyone's key (a reviewer who left).
        const byAdmin = await api<KeyView>(
          "POST",
          `/v1/reviewer-keys/${publicKeyText(perNew)}/revocation`,
          { reason: "left the company" },
          "root",
        );
        assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
        assert.deepEqual(
          [byAdmin.body.revoked?.by, byAdmin.body.revoked?.kept.map((k) => k.reference)],
          ["operator:root", [wider.id]],
        );

        const log = await callControlPlane<{
          entries: {
            action: string;
            actor: string;
            subject: string;
            reason: string | null;
            detail: Record<string, unknown>;
          }[];
        }>(t, "GET", "/v1/audit-log");
        const steps = log.body.entries
          .filter((e) => e.action.startsWith("reviewer."))
          .map((e) => [e.action, e.actor, e.subject, e.reason, e.detail.kept ?? null]);
        assert.deepEqual(steps, [
          ["reviewer.key_added", "operator:anna", "anna", null, null],
          ["reviewer.key_revoked", "operator:anna", "anna", "laptop stolen", [renewal.id]],
          ["reviewer.key_added", "operator:per", "per", null, null],
          ["reviewer.key_added", "operator:per", "per", null, null],
          ["reviewer.key_revoked", "operator:per", "per", "routine yearly rotation", []],
          ["reviewer.key_revoked", "operator:root", "per", "left the company", [wider.id]],
        ]);
        assert.ok(existsSync(perFile));
      } finally {
        await t.close();
      }
    });
  });
}
