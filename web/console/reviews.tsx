/**
 * Reviews in the console: the open proposals, what each changes, and a
 * reviewer's signed decision.
 */
import { type Proposal, QUESTION_LIST } from "@phonehome/shared";
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError } from "../shared/api.ts";
import { Button, Card, day, Field, Notice, Table } from "../shared/ui.tsx";
import { approvalStatement, signStatement } from "./sign.ts";
import type { Session } from "./session.ts";

export function Reviews(props: { session: Session }) {
  const [proposals, setProposals] = useState<Proposal[] | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const load = () =>
    api<{ proposals: Proposal[] }>("/v1/proposals", { token: props.session.token })
      .then((r) => setProposals(r.proposals))
      .catch((e: ApiError) => setProblem(e.message));
  useEffect(() => {
    void load();
  }, []);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (proposals === null) return <p role="status">Loading proposals…</p>;
  const chosen = proposals.find((p) => p.id === open);
  return (
    <>
      <h1>Privacy reviews</h1>
      <Card title="Proposals">
        {proposals.length === 0 ? (
          <p>No collection change has been proposed.</p>
        ) : (
          <Table
            caption="Newest first"
            columns={["Proposal", "Collection", "Status", "Author", "Asks for more"]}
            rows={proposals.map((p) => [
              <button type="button" class="link" key="open" onClick={() => setOpen(p.id)}>
                {p.id}
              </button>,
              `${p.collection} v${p.version}`,
              p.status,
              p.author,
              String(p.changes.filter((c) => c.widens).length),
            ])}
          />
        )}
      </Card>
      {chosen === undefined ? null : (
        <ProposalView
          key={chosen.id}
          proposal={chosen}
          session={props.session}
          onDecided={() => {
            void load();
          }}
        />
      )}
    </>
  );
}

export function ProposalView(props: { proposal: Proposal; session: Session; onDecided: () => void }) {
  const p = props.proposal;
  const me = props.session.me;
  const canReview =
    me.permissions.includes("dictionary.review") && p.author !== me.username && p.status === "open";
  const [comment, setComment] = useState("");
  const [expires, setExpires] = useState("");
  const [key, setKey] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const decide = async (approve: boolean) => {
    setProblem(null);
    if (comment.trim() === "") {
      setProblem("Say why, in a comment: it is kept with the decision.");
      return;
    }
    try {
      if (approve) {
        if (key === null) {
          setProblem("Choose your reviewer's key file: the approval is signed with it, here in the browser.");
          return;
        }
        const date = new Date().toISOString().slice(0, 10);
        const signature = await signStatement(
          approvalStatement(p.collection, p.version, {
            reviewer: me.username,
            author: p.author,
            date,
            reference: p.id,
            expires: expires === "" ? undefined : expires,
            sha256: p.sha256,
          }),
          key,
        );
        await api(`/v1/proposals/${p.id}/approval`, {
          method: "POST",
          token: props.session.token,
          body: { date, comment, signature, ...(expires === "" ? {} : { expires }) },
        });
        setDone(
          `${p.id} approved and signed. Write it into the dictionary: npx phonehome review apply ${p.id}`,
        );
      } else {
        await api(`/v1/proposals/${p.id}/rejection`, {
          method: "POST",
          token: props.session.token,
          body: { comment },
        });
        setDone(`${p.id} rejected.`);
      }
      props.onDecided();
    } catch (error) {
      setProblem((error as Error).message);
    }
  };
  return (
    <Card title={`${p.id}: ${p.collection} v${p.version}`}>
      <dl class="facts">
        <dt>Status</dt>
        <dd>{p.status}</dd>
        <dt>Proposed by</dt>
        <dd>
          {p.author}, {day(p.proposedAt)}
        </dd>
        <dt>Compared with</dt>
        <dd>{p.baseVersion === null ? "nothing: a new collection" : `version ${p.baseVersion}`}</dd>
        {p.decidedAt === null ? null : (
          <>
            <dt>Decided by</dt>
            <dd>
              {p.reviewer}, {day(p.decidedAt)}: {p.comment}
            </dd>
          </>
        )}
      </dl>
      <h3>What changes</h3>
      <ul aria-label="Changes">
        {p.changes.map((c, i) => (
          <li key={i}>
            {c.widens ? (
              <span class="badge bad">asks for more</span>
            ) : (
              <span class="badge neutral">no more</span>
            )}{" "}
            {c.text}
          </li>
        ))}
      </ul>
      <h3>The author's answers</h3>
      <dl class="facts">
        {QUESTION_LIST.map(([key, question]) => [
          <dt key={`q-${key}`}>{question}</dt>,
          <dd key={`a-${key}`}>{p.answers[key]}</dd>,
        ])}
      </dl>
      {p.diff === "" ? null : (
        <>
          <h3>Diff</h3>
          <pre class="diff" tabIndex={0} aria-label={`Diff of ${p.collection} v${p.version}`}>
            {p.diff}
          </pre>
        </>
      )}
      {done !== null ? <Notice kind="success">{done}</Notice> : null}
      {canReview && done === null ? (
        <form onSubmit={(e) => e.preventDefault()} aria-label="Your decision">
          <h3>Your decision</h3>
          <Field label="Comment" name="comment" multiline value={comment} onInput={setComment} />
          <Field
            label="Approval ends on (optional)"
            hint="YYYY-MM-DD: the last day it holds; a review renews it."
            name="expires"
            value={expires}
            onInput={setExpires}
          />
          <div class="field">
            <label for="key-file">Your reviewer's key file</label>
            <p class="hint" id="key-file-hint">
              The PEM file `npx phonehome review key` made. It is read here and never sent.
            </p>
            <input
              id="key-file"
              type="file"
              aria-describedby="key-file-hint"
              onChange={async (e) => setKey((await e.currentTarget.files?.[0]?.text()) ?? null)}
            />
          </div>
          {problem === null ? null : <Notice kind="error">{problem}</Notice>}
          <div class="actions">
            <Button onClick={() => decide(true)}>Approve and sign</Button>
            <Button kind="danger" onClick={() => decide(false)}>
              Reject
            </Button>
          </div>
        </form>
      ) : null}
    </Card>
  );
}
