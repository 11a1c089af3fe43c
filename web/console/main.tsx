/**
 * The operator console, on the control plane at /console/: sign in, then the
 * sections the role may use — the privacy review queue, incidents, the audit
 * log. A section or a control the role's permissions do not hold is not
 * shown (the API refuses it anyway). It calls only the documented API, with
 * the session's bearer token, kept for this tab only (sessionStorage).
 */
import { type Incident, type IncidentSummary, type Proposal, QUESTION_LIST } from "@phonehome/shared";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError, apiText, download } from "../shared/api.ts";
import { Button, Card, day, Field, Notice, Page, Table } from "../shared/ui.tsx";
import "../shared/ui.css";
// The questionnaire's one source, shared with the control plane that checks the answers.
import { DataMapView } from "./datamap.tsx";
import { FleetView } from "./fleet.tsx";
import { IngestLedger } from "./ledger.tsx";
import { Releases } from "./releases.tsx";
import { approvalStatement, type AuditEntry, firstBroken, signStatement } from "./sign.ts";

interface Me {
  username: string;
  name: string;
  role: string;
  permissions: string[];
  expiresAt: string;
}
interface Session {
  token: string;
  me: Me;
}

const SESSION_KEY = "phonehome.console.session";
const SECTIONS = [
  { id: "fleet", title: "Fleet", permission: "fleet.read" },
  { id: "releases", title: "Releases", permission: "fleet.read" },
  { id: "reviews", title: "Privacy reviews", permission: "dictionary.read" },
  { id: "incidents", title: "Incidents", permission: "incidents.read" },
  { id: "ledger", title: "Ingest ledger", permission: "ledger.read" },
  { id: "audit", title: "Audit log", permission: "audit.read" },
  // Public: every role sees it.
  { id: "datamap", title: "Data map", permission: null },
] as const;
type SectionId = (typeof SECTIONS)[number]["id"];

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checked, setChecked] = useState(false);
  const [section, setSection] = useState<string>(location.hash.slice(1));
  useEffect(() => {
    const onHash = () => setSection(location.hash.slice(1));
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    // A session kept for this tab: check it is still live.
    const token = sessionStorage.getItem(SESSION_KEY);
    if (token === null) {
      setChecked(true);
      return;
    }
    api<Me>("/v1/sessions/current", { token })
      .then((me) => setSession({ token, me }))
      .catch(() => sessionStorage.removeItem(SESSION_KEY))
      .finally(() => setChecked(true));
  }, []);
  if (!checked) {
    return (
      <Page title="Console">
        <p role="status">Loading…</p>
      </Page>
    );
  }
  if (session === null) {
    return (
      <Page title="Console">
        <SignIn
          onSignedIn={(s) => {
            sessionStorage.setItem(SESSION_KEY, s.token);
            setSession(s);
          }}
        />
      </Page>
    );
  }
  const allowed = SECTIONS.filter(
    (s) => s.permission === null || session.me.permissions.includes(s.permission),
  );
  const current = allowed.find((s) => s.id === section) ?? allowed[0];
  const signOut = async () => {
    await api("/v1/sessions/current", { method: "DELETE", token: session.token }).catch(() => undefined);
    sessionStorage.removeItem(SESSION_KEY);
    setSession(null);
  };
  return (
    <Page
      title="Console"
      nav={
        <>
          {allowed.map((s) => (
            <a key={s.id} href={`#${s.id}`} aria-current={s.id === current?.id ? "page" : undefined}>
              {s.title}
            </a>
          ))}
          <span>
            {session.me.name} ({session.me.role})
          </span>
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </>
      }
    >
      {current === undefined ? (
        <Notice kind="info">Your role has no section in the console.</Notice>
      ) : (
        <Section id={current.id} session={session} />
      )}
    </Page>
  );
}

function Section(props: { id: SectionId; session: Session }) {
  switch (props.id) {
    case "fleet":
      return (
        <FleetView
          token={props.session.token}
          canReadAdoption={props.session.me.permissions.includes("adoption.read")}
        />
      );
    case "releases":
      return <Releases token={props.session.token} permissions={props.session.me.permissions} />;
    case "reviews":
      return <Reviews session={props.session} />;
    case "incidents":
      return <Incidents session={props.session} />;
    case "ledger":
      return <IngestLedger token={props.session.token} />;
    case "audit":
      return <AuditLog session={props.session} />;
    case "datamap":
      return <DataMapView />;
  }
}

function SignIn(props: { onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <Card title="Sign in">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setProblem(null);
          try {
            const { token } = await api<{ token: string }>("/v1/sessions", {
              method: "POST",
              body: { username, password },
            });
            props.onSignedIn({ token, me: await api<Me>("/v1/sessions/current", { token }) });
          } catch (error) {
            setProblem((error as ApiError).message);
          }
        }}
      >
        <Field
          label="Username"
          name="username"
          autoComplete="username"
          value={username}
          onInput={setUsername}
        />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onInput={setPassword}
        />
        {problem === null ? null : <Notice kind="error">{problem}</Notice>}
        <div class="actions">
          <button type="submit" class="button primary">
            Sign in
          </button>
        </div>
      </form>
    </Card>
  );
}

function Reviews(props: { session: Session }) {
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

function ProposalView(props: { proposal: Proposal; session: Session; onDecided: () => void }) {
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

function Incidents(props: { session: Session }) {
  const token = props.session.token;
  const canWrite = props.session.me.permissions.includes("incidents.write");
  const [incidents, setIncidents] = useState<IncidentSummary[] | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const load = () =>
    api<{ incidents: IncidentSummary[] }>("/v1/incidents", { token })
      .then((r) => setIncidents(r.incidents))
      .catch((e: ApiError) => setProblem(e.message));
  useEffect(() => {
    void load();
    // New incidents open by themselves from the collectors' alerts: keep the list current.
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, []);
  const sweep = async () => {
    setNote(null);
    try {
      const r = await api<{ opened: { id: string }[] }>("/v1/incidents/sweep", { method: "POST", token });
      setNote(
        r.opened.length === 0
          ? "No new misrouting."
          : `Opened ${r.opened.map((i) => i.id).join(", ")} from the collectors' alerts.`,
      );
      await load();
    } catch (error) {
      setProblem((error as ApiError).message);
    }
  };
  return (
    <>
      <h1>Incidents</h1>
      <Card title="Incidents">
        {canWrite ? (
          <div class="actions">
            <Button kind="secondary" onClick={sweep}>
              Check for misrouting now
            </Button>
          </div>
        ) : null}
        {note === null ? null : <Notice kind="info">{note}</Notice>}
        {problem === null ? null : <Notice kind="error">{problem}</Notice>}
        {incidents === null ? (
          <p role="status">Loading incidents…</p>
        ) : incidents.length === 0 ? (
          <p>No incident.</p>
        ) : (
          <Table
            caption="Newest first"
            columns={["Incident", "Title", "Opened", "From", "Devices", "Status"]}
            rows={incidents.map((i) => [
              <button type="button" class="link" key="open" onClick={() => setOpen(i.id)}>
                {i.id}
              </button>,
              i.title,
              day(i.openedAt),
              i.source === "misrouting" ? "a misrouting alert" : "an operator",
              String(i.devices),
              i.status,
            ])}
          />
        )}
      </Card>
      {open === null ? null : <IncidentView key={open} id={open} session={props.session} />}
    </>
  );
}

function IncidentView(props: { id: string; session: Session }) {
  const token = props.session.token;
  const canWrite = props.session.me.permissions.includes("incidents.write");
  const [incident, setIncident] = useState<Incident | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [sent, setSent] = useState<string | null>(null);
  const load = () =>
    api<Incident>(`/v1/incidents/${props.id}`, { token })
      .then(setIncident)
      .catch((e: ApiError) => setProblem(e.message));
  useEffect(() => {
    void load();
  }, [props.id]);
  if (problem !== null && incident === null) return <Notice kind="error">{problem}</Notice>;
  if (incident === null) return <p role="status">Loading {props.id}…</p>;
  const send = async () => {
    setProblem(null);
    try {
      const r = await api<{ id: string }>(`/v1/incidents/${incident.id}/notices`, {
        method: "POST",
        token,
        body: { title, body },
      });
      await load();
      setSent(
        `Notice ${r.id} handed to the devices' home regions; each device gets it at its next check-in.`,
      );
    } catch (error) {
      setProblem((error as ApiError).message);
    }
  };
  const report = async () => {
    try {
      download(
        `${incident.id}.md`,
        await apiText(`/v1/incidents/${incident.id}/report?format=markdown`, { token }),
      );
    } catch (error) {
      setProblem((error as ApiError).message);
    }
  };
  return (
    <Card title={`${incident.id}: ${incident.title}`}>
      <p>{incident.description}</p>
      <dl class="facts">
        <dt>Affected devices</dt>
        <dd>{incident.devices.total}</dd>
        <dt>Data involved</dt>
        <dd>{incident.dataCategories.join(", ") || "none named"}</dd>
        <dt>Where it went</dt>
        <dd>{incident.destinations.map((d) => d.name).join(", ") || "none named"}</dd>
      </dl>
      <Table
        caption="Affected devices by batch"
        columns={["Batch", "Build", "Market", "Home region", "Devices"]}
        rows={incident.devices.batches.map((b) => [b.batch, b.build, b.market, b.region, String(b.devices)])}
      />
      <Table
        caption="Notices to owners"
        columns={["Notice", "Title", "Sent", "Delivered"]}
        rows={incident.notices.map((n) => [
          n.id,
          n.title,
          day(n.sentAt),
          n.delivery === undefined ? "—" : `${n.delivery.delivered} of ${n.delivery.devices}`,
        ])}
      />
      <div class="actions">
        <Button kind="secondary" onClick={report}>
          Download the regulator report
        </Button>
      </div>
      {canWrite && incident.status === "open" ? (
        <form onSubmit={(e) => e.preventDefault()} aria-label="Notify the owners">
          <h3>Notify the owners</h3>
          <Field label="Notice title" name="title" value={title} onInput={setTitle} />
          <Field label="Notice text" name="body" multiline value={body} onInput={setBody} />
          <div class="actions">
            <Button onClick={send}>Send the notice</Button>
          </div>
        </form>
      ) : null}
      {sent === null ? null : <Notice kind="success">{sent}</Notice>}
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
    </Card>
  );
}

function AuditLog(props: { session: Session }) {
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [verdict, setVerdict] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    (async () => {
      const all: AuditEntry[] = [];
      for (;;) {
        const after = all.at(-1)?.seq ?? 0;
        const page = await api<{ entries: AuditEntry[] }>(`/v1/audit-log?after=${after}&limit=1000`, {
          token: props.session.token,
        });
        all.push(...page.entries);
        if (page.entries.length < 1000) break;
      }
      setEntries(all);
      const broken = await firstBroken(all);
      setVerdict(
        broken === null
          ? `The chain verifies: ${all.length} entries, each hashed over the one before.`
          : `The chain is broken at entry ${broken.seq}: ${broken.problem}.`,
      );
    })().catch((e: ApiError) => setProblem(e.message));
  }, []);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (entries === null) return <p role="status">Loading the audit log…</p>;
  const shown = entries.filter((e) =>
    filter === "" ? true : [e.action, e.actor, e.subject, e.reason ?? ""].some((v) => v.includes(filter)),
  );
  return (
    <>
      <h1>Audit log</h1>
      <Notice kind={verdict?.startsWith("The chain verifies") ? "success" : "error"}>{verdict}</Notice>
      <Card title="Entries">
        <Field
          label="Filter"
          hint="Shows the entries whose action, actor, subject or reason contains this."
          name="filter"
          value={filter}
          onInput={setFilter}
        />
        <Table
          caption={`${shown.length} of ${entries.length} entries, newest first`}
          columns={["#", "When", "Who", "What", "On", "Why"]}
          rows={[...shown]
            .reverse()
            .map((e) => [
              String(e.seq),
              new Date(e.at).toISOString().replace("T", " ").slice(0, 19),
              e.actor,
              e.action,
              e.subject,
              e.reason ?? "",
            ])}
        />
      </Card>
    </>
  );
}

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
