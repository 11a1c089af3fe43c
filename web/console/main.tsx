/**
 * The operator console, on the control plane at /console/: sign in, then the
 * sections the role may use — the privacy review queue, incidents, the audit
 * log, the fleet, releases, the ingest ledger, the data map. A section or a
 * control the role's permissions do not hold is not shown (the API refuses it
 * anyway). It calls only the documented API, with the session's bearer token,
 * kept for this tab only (sessionStorage). This file starts it; each section
 * is its own file.
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { ConsoleConfig } from "@phonehome/shared";
import { api } from "../shared/api.ts";
import { Notice, Page } from "../shared/ui.tsx";
import "../shared/ui.css";
import { DataMapView } from "./datamap.tsx";
import { FleetView } from "./fleet.tsx";
import { IngestLedger } from "./ledger.tsx";
import { Releases } from "./releases.tsx";
import { type Me, type Session, SESSION_KEY, SIGN_IN_BEGUN_KEY, SIGN_IN_BEGUN_MS } from "./session.ts";
import { SignIn } from "./sign-in.tsx";
import { Reviews } from "./reviews.tsx";
import { Incidents } from "./incidents.tsx";
import { AuditLog } from "./audit-log.tsx";

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

/**
 * What the provider's callback handed over in the fragment (which no browser
 * sends to a server): a session's token, or why the sign-in was refused.
 * Read once, then removed from the address bar and the tab's history.
 */
function handedOver(): { token: string | null; refused: string | null } {
  const fragment = new URLSearchParams(location.hash.slice(1));
  let token = fragment.get("session");
  let refused = fragment.has("sign-in-error") ? (fragment.get("message") ?? "the sign-in was refused") : null;
  if (token !== null || refused !== null) history.replaceState(null, "", location.pathname);
  const begun = Number(sessionStorage.getItem(SIGN_IN_BEGUN_KEY));
  sessionStorage.removeItem(SIGN_IN_BEGUN_KEY);
  // Only a tab that began a sign-in takes a session from the fragment (no login by someone else's link).
  if (token !== null && !(begun > 0 && Date.now() - begun < SIGN_IN_BEGUN_MS)) {
    token = null;
    refused = "this tab did not begin a sign-in: use “Sign in with …” here";
  }
  if (token !== null) sessionStorage.setItem(SESSION_KEY, token);
  return { token, refused };
}
const handover = handedOver();

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [checked, setChecked] = useState(false);
  const [section, setSection] = useState<string>(location.hash.slice(1));
  useEffect(() => {
    const onHash = () => setSection(location.hash.slice(1));
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    // How operators sign in here; without an answer, the password form alone, as before providers.
    api<ConsoleConfig>("/console/config.json")
      .then(setConfig)
      .catch(() => setConfig({ passwordSignIn: "all", provider: null }));
    // A session kept for this tab, or just handed over by the provider's callback: check it is still live.
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
  if (!checked || (session === null && config === null)) {
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
          config={config ?? { passwordSignIn: "all", provider: null }}
          refused={handover.refused}
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
    // A session from the provider: sign out there too (RP-initiated logout), which comes back here.
    if (session.me.signOutUrl !== undefined) {
      location.assign(session.me.signOutUrl);
      return;
    }
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

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
