/**
 * `phonehome review ...`: the review workflow from a terminal, as the signed-in
 * operator (`phonehome session open`). `key` makes a reviewer's Ed25519 key
 * (the private half stays in a file only its owner reads) and registers the
 * public half; `propose` sends a version file with the questionnaire's
 * answers; `list` and `show` read proposals with their changes; `approve`
 * signs the approval statement locally and sends the signature; `reject`;
 * `apply` writes an approved proposal into the dictionary in the repository.
 */
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { callControlPlane } from "../../core/cli/index.ts";
import { loadConfig } from "../../core/config/index.ts";
import type { Approval, Revocation } from "../../core/dictionary/index.ts";
import {
  approvalStatement,
  publicKeyOf,
  publicKeyText,
  signStatement,
  verifyStatement,
} from "../../core/dictionary/index.ts";
import { labelOf, lintDictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { readSession } from "../operators/index.ts";
import { type ReviewerEntry, writeApproval, writeRevocation } from "./apply.ts";
import type { VersionContent } from "./diff.ts";
import { type Proposal as ProposalAnswer, QUESTION_LIST, QUESTIONS } from "@phonehome/shared";

/** Where `review key` keeps a reviewer's private key by default. */
const DEFAULT_KEY_FILE = join(homedir(), ".phonehome", "reviewer-key.pem");

/** A proposal as the API answers it, with the parts the CLI writes back typed as what they are. */
type Proposal = Omit<ProposalAnswer, "document" | "approval"> & {
  document: VersionContent;
  approval: Approval | null;
};

/** A reviewer's key as GET /v1/reviewer-keys and the revocation route answer it. */
type RevokedKey = Omit<ReviewerEntry, "revoked"> & { revoked?: Revocation & { by: string } };

/** Adds the `review` commands to the program. */
export function register(program: Command): void {
  const review = program
    .command("review")
    .description("the data dictionary's review workflow: propose, approve or reject, apply");
  const session = "--session <file>";
  const sessionHelp = "the session token's file (default: where `session open` keeps it)";
  const call = async (
    options: { session?: string },
    method: "GET" | "POST",
    path: string,
    body?: unknown,
  ): Promise<unknown> => {
    const config = loadConfig(program.opts().config);
    const { text } = await callControlPlane(config, method, path, {
      body,
      token: readSession(options.session),
    });
    return JSON.parse(text) as unknown;
  };
  const print = (json: boolean | undefined, value: unknown, words: () => string) =>
    process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : words());

  const key = review
    .command("key")
    .description(
      "your reviewer's key: `key` (or `key new`) makes and registers one, `key revoke` revokes one",
    );
  key
    .command("new", { isDefault: true })
    .description("make your reviewer's key and register its public half with the control plane")
    .option(
      "--key-file <file>",
      `where to keep the private key (default ${DEFAULT_KEY_FILE}); never overwritten`,
    )
    .option(
      "--replace <publicKey>",
      "a key of yours the new one replaces: it is revoked in the same step (a file at --key-file is moved aside)",
    )
    .option("--reason <text>", "with --replace: why the old key goes (lost, stolen, routine)")
    .option(session, sessionHelp)
    .action(async (options: { keyFile?: string; replace?: string; reason?: string; session?: string }) => {
      const file = resolve(options.keyFile ?? DEFAULT_KEY_FILE);
      if (options.replace !== undefined && options.reason === undefined) {
        throw new PhoneHomeError("config.invalid", "--replace needs --reason: say why the old key goes");
      }
      const pem = generateKeyPairSync("ed25519")
        .privateKey.export({ format: "pem", type: "pkcs8" })
        .toString();
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // A replaced key's file is kept aside, not deleted: it is revoked, and nobody should have to guess where it went.
      const aside = `${file}.replaced-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      const movedAside = options.replace !== undefined && existsSync(file);
      if (movedAside) renameSync(file, aside);
      try {
        writeFileSync(file, pem, { mode: 0o600, flag: "wx" });
      } catch (cause) {
        throw new PhoneHomeError("config.invalid", `${file} exists: a reviewer's key is never overwritten`, {
          cause,
        });
      }
      chmodSync(file, 0o600);
      const publicKey = publicKeyText(pem);
      const body = {
        publicKey,
        ...(options.replace === undefined ? {} : { replaces: options.replace, reason: options.reason }),
      };
      // A key the control plane did not take is of no use: take it away again, so that a retry can make one.
      await call(options, "POST", "/v1/reviewer-keys", body).catch((error: unknown) => {
        rmSync(file, { force: true });
        if (movedAside) renameSync(aside, file);
        throw error;
      });
      process.stdout.write(
        `made ${file} (keep it to yourself) and registered its public key ${publicKey}\n` +
          (options.replace === undefined
            ? ""
            : `revoked ${options.replace}${movedAside ? ` (its file moved to ${aside})` : ""}: write the revocation into ` +
              `the dictionary with \`npx phonehome review key revoke ${options.replace} --reason …\` (it is revoked already; ` +
              "the command then only writes reviewers.yaml)\n"),
      );
    });

  key
    .command("revoke")
    .description(
      "revoke a reviewer's key with a reason, and write the revocation into the dictionary's reviewers.yaml",
    )
    .argument("<publicKey>", "the key, as reviewers.yaml and GET /v1/reviewer-keys list it")
    .requiredOption(
      "--reason <text>",
      "why (kept with the revocation, in the audit log and in reviewers.yaml)",
    )
    .option("--dictionary <dir>", "dictionary folder (default: the configuration's `dictionary`)")
    .option(session, sessionHelp)
    .option("--json", "print the revoked key as JSON")
    .action(
      async (
        publicKey: string,
        options: { reason: string; dictionary?: string; session?: string; json?: boolean },
      ) => {
        const config = loadConfig(program.opts().config);
        const dir = options.dictionary === undefined ? config.dictionaryDir : resolve(options.dictionary);
        let revoked: RevokedKey;
        try {
          revoked = (await call(
            options,
            "POST",
            `/v1/reviewer-keys/${encodeURIComponent(publicKey)}/revocation`,
            {
              reason: options.reason,
            },
          )) as RevokedKey;
        } catch (error) {
          // Revoked already (e.g. by `review key --replace`): write what the control plane recorded.
          if (!(error instanceof PhoneHomeError) || error.code !== "review.key_revoked") throw error;
          const { reviewers } = (await call(options, "GET", "/v1/reviewer-keys")) as {
            reviewers: RevokedKey[];
          };
          const found = reviewers.find((r) => r.publicKey === publicKey && r.revoked !== undefined);
          if (found === undefined) throw error;
          revoked = found;
        }
        const { revoked: revocation } = revoked;
        if (revocation === undefined)
          throw new PhoneHomeError("review.key_not_found", `${publicKey} is not revoked`);
        const changed = writeRevocation(dir, { ...revoked, revoked: revocation });
        print(
          options.json,
          revoked,
          () =>
            `revoked ${revoked.username}'s key ${publicKey} at ${revocation.at}: ${revocation.reason}\n` +
            `${revocation.kept.length} approval${revocation.kept.length === 1 ? "" : "s"} recorded before stay valid` +
            `${revocation.kept.length === 0 ? "" : ` (${revocation.kept.map((k) => `${k.collection} v${k.version} ${k.reference}`).join(", ")})`}\n` +
            (changed
              ? `wrote the revocation into ${labelOf(join(dir, "reviewers.yaml"))}: commit it; collectors refuse the key's other signatures from their next start\n`
              : `${labelOf(join(dir, "reviewers.yaml"))} records it already\n`),
        );
      },
    );

  review
    .command("propose")
    .description("propose a collection version file, with the data-review questionnaire's answers")
    .argument("<file>", "the version's YAML file, e.g. dictionary/activation/v2.yaml")
    .requiredOption("--answers <file>", `a YAML file answering ${Object.keys(QUESTIONS).join(", ")}`)
    .option(session, sessionHelp)
    .option("--json", "print the proposal as JSON")
    .action(async (file: string, options: { answers: string; session?: string; json?: boolean }) => {
      const document = readYamlObject(file);
      // What is proposed is the content; an approval record is the reviewer's to make.
      delete document.approval;
      const answers = readYamlObject(options.answers);
      const proposal = (await call(options, "POST", "/v1/proposals", { document, answers })) as Proposal;
      print(
        options.json,
        proposal,
        () =>
          `${describe(proposal)}\nA privacy reviewer who is not you decides: \`npx phonehome review show ${proposal.id}\`\n`,
      );
    });

  review
    .command("list")
    .description("proposals, newest first")
    .option("--status <status>", "open, approved or rejected")
    .option(session, sessionHelp)
    .option("--json", "print JSON")
    .action(async (options: { status?: string; session?: string; json?: boolean }) => {
      const query = options.status === undefined ? "" : `?status=${encodeURIComponent(options.status)}`;
      const { proposals } = (await call(options, "GET", `/v1/proposals${query}`)) as {
        proposals: Proposal[];
      };
      print(options.json, proposals, () =>
        proposals.length === 0
          ? "no proposals\n"
          : proposals
              .map(
                (p) =>
                  `${p.id}\t${p.collection} v${p.version}\t${p.status}\tby ${p.author}\t${p.changes.filter((c) => c.widens).length} widening change(s)\n`,
              )
              .join(""),
      );
    });

  review
    .command("show")
    .description("one proposal: what it changes, the answers, the diff, the decision")
    .argument("<id>", "PROP-<n>")
    .option(session, sessionHelp)
    .option("--json", "print JSON")
    .action(async (id: string, options: { session?: string; json?: boolean }) => {
      const proposal = (await call(options, "GET", `/v1/proposals/${encodeURIComponent(id)}`)) as Proposal;
      print(options.json, proposal, () => describe(proposal, { full: true }));
    });

  review
    .command("approve")
    .description("approve a proposal: sign its approval statement with your key and send the signature")
    .argument("<id>", "PROP-<n>")
    .requiredOption(
      "--comment <text>",
      "why it may be approved (kept with the decision and in the audit log)",
    )
    .option("--expires <date>", "the last day (YYYY-MM-DD, UTC) the approval holds; a review renews it")
    .option("--key-file <file>", `your private key (default ${DEFAULT_KEY_FILE})`)
    .option(session, sessionHelp)
    .option("--json", "print JSON")
    .action(
      async (
        id: string,
        options: { comment: string; expires?: string; keyFile?: string; session?: string; json?: boolean },
      ) => {
        const config = loadConfig(program.opts().config);
        const token = readSession(options.session);
        const { text: me } = await callControlPlane(config, "GET", "/v1/sessions/current", { token });
        const reviewer = (JSON.parse(me) as { username: string }).username;
        const proposal = (await call(options, "GET", `/v1/proposals/${encodeURIComponent(id)}`)) as Proposal;
        const date = new Date().toISOString().slice(0, 10);
        const statement = approvalStatement(proposal.collection, proposal.version, {
          reviewer,
          author: proposal.author,
          date,
          reference: proposal.id,
          expires: options.expires,
          sha256: proposal.sha256,
        });
        const keyFile = resolve(options.keyFile ?? DEFAULT_KEY_FILE);
        let pem: string;
        try {
          pem = readFileSync(keyFile, "utf8");
        } catch (cause) {
          throw new PhoneHomeError(
            "config.invalid",
            `cannot read your reviewer's key at ${keyFile}: make one with \`npx phonehome review key\``,
            { cause },
          );
        }
        const signature = signStatement(statement, pem);
        const body = {
          date,
          comment: options.comment,
          signature,
          ...(options.expires === undefined ? {} : { expires: options.expires }),
        };
        const approved = (await call(
          options,
          "POST",
          `/v1/proposals/${encodeURIComponent(id)}/approval`,
          body,
        )) as Proposal;
        print(
          options.json,
          approved,
          () =>
            `${describe(approved)}\nWrite it into the dictionary: \`npx phonehome review apply ${approved.id}\`\n`,
        );
      },
    );

  review
    .command("reject")
    .description("reject a proposal with a comment")
    .argument("<id>", "PROP-<n>")
    .requiredOption("--comment <text>", "why it is rejected")
    .option(session, sessionHelp)
    .option("--json", "print JSON")
    .action(async (id: string, options: { comment: string; session?: string; json?: boolean }) => {
      const rejected = (await call(options, "POST", `/v1/proposals/${encodeURIComponent(id)}/rejection`, {
        comment: options.comment,
      })) as Proposal;
      print(options.json, rejected, () => `${describe(rejected)}\n`);
    });

  review
    .command("apply")
    .description(
      "write an approved proposal into the dictionary: the signed approval, and the reviewer's key",
    )
    .argument("<id>", "PROP-<n>")
    .option("--dictionary <dir>", "dictionary folder (default: the configuration's `dictionary`)")
    .option(session, sessionHelp)
    .action(async (id: string, options: { dictionary?: string; session?: string }) => {
      const config = loadConfig(program.opts().config);
      const dir = options.dictionary === undefined ? config.dictionaryDir : resolve(options.dictionary);
      const proposal = (await call(options, "GET", `/v1/proposals/${encodeURIComponent(id)}`)) as Proposal;
      if (proposal.status !== "approved" || proposal.approval === null) {
        throw new PhoneHomeError(
          "review.decided",
          `${proposal.id} is ${proposal.status}: only an approved proposal is applied`,
        );
      }
      const { reviewers } = (await call(options, "GET", "/v1/reviewer-keys")) as { reviewers: RevokedKey[] };
      const approval = proposal.approval;
      const statement = approvalStatement(proposal.collection, proposal.version, {
        ...approval,
        sha256: proposal.sha256,
        author: proposal.author,
      });
      const key = reviewers.find(
        (r) =>
          r.username === approval.reviewer &&
          verifyStatement(statement, approval.signature ?? "", publicKeyOf(r.publicKey)),
      );
      if (key === undefined) {
        throw new PhoneHomeError(
          "review.signature_invalid",
          `no registered key of ${approval.reviewer} verifies ${proposal.id}'s approval: nothing written`,
        );
      }
      const applied = writeApproval(dir, proposal.document, approval, key);
      const report = lintDictionary(dir, { regions: config.regions.map((r) => r.id) });
      const refused = report.refusals.filter((p) => p.path.startsWith(labelOf(applied.file)));
      process.stdout.write(
        `${applied.created ? "wrote" : "approved"} ${labelOf(applied.file)} (${proposal.id}, ${approval.reviewer})` +
          `${applied.reviewerAdded ? `; added ${approval.reviewer}'s key to reviewers.yaml` : ""}\n` +
          (refused.length === 0
            ? "registry check: the version is approved; commit both files, and collectors accept it from their next start\n"
            : refused.map((p) => `error ${p.path}: ${p.message}\n`).join("")),
      );
      if (refused.length > 0) process.exitCode = 1;
    });
}

/** A proposal in words; with `full`, the answers and the diff too. */
function describe(p: Proposal, options: { full?: boolean } = {}): string {
  const lines = [
    `${p.id}  ${p.collection} v${p.version}  ${p.status}  proposed by ${p.author} at ${p.proposedAt}`,
    p.baseVersion === null ? "  a new collection" : `  compared with v${p.baseVersion}`,
  ];
  if (p.decidedAt !== null) lines.push(`  ${p.status} by ${p.reviewer} at ${p.decidedAt}: ${p.comment}`);
  if (p.approval?.expires !== undefined) lines.push(`  the approval holds through ${p.approval.expires}`);
  lines.push("", "What changes (! asks for more, keeps longer or wider, or protects less):");
  for (const c of p.changes) lines.push(`  ${c.widens ? "!" : " "} ${c.text}`);
  if (options.full) {
    lines.push("", "The author's answers:");
    for (const [key, question] of QUESTION_LIST) {
      lines.push(`  ${question}`, ...(p.answers[key] ?? "").split("\n").map((l) => `    ${l}`));
    }
    if (p.diff !== "") lines.push("", "Diff:", p.diff.trimEnd());
  }
  return `${lines.join("\n")}\n`;
}

function readYamlObject(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseYaml(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new PhoneHomeError("review.invalid", `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new PhoneHomeError("review.invalid", `${file} is not a YAML mapping`);
  }
  return value as Record<string, unknown>;
}
