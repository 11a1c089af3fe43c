/**
 * The owner portal: open with the token the device shows (typed, pasted, or
 * from its QR code link, `#token=…`), see per region everything held about the
 * device, grouped by purpose, and download it; check whether a build is
 * fixed. It calls only the documented APIs: the control plane's region list
 * and lookup, and each region's owner routes.
 */
import DOMPurify from "dompurify";
import { marked } from "marked";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError, download } from "../shared/api.ts";
import { Button, Card, day, Field, Notice, Page, Table } from "../shared/ui.tsx";
import "../shared/ui.css";
import { basisWords, purposeWords, recordWords, transformWords } from "./words.ts";

interface PortalConfig {
  controlPlane: string;
}
interface Region {
  id: string;
  storedIn: string;
  url: string;
}
interface FieldView {
  name: string;
  value: unknown;
  description: string;
  dataCategory: string;
  purpose: string;
  legalBasis: string;
  retention: string;
  transform: string;
}
interface RecordView {
  collection: string;
  schemaVersion: number;
  description: string;
  purpose: string;
  legalBasis: string;
  storedAt: string;
  expiresAt: string;
  fields: FieldView[];
}
interface RegionExport {
  region: string;
  storedIn: string;
  device: string;
  generatedAt: string;
  records: RecordView[];
  consents: { consents: { purpose: string; decision: string }[] };
  notices: { title?: string }[];
}
type Held = { region: Region; data: RegionExport } | { region: Region; error: ApiError };

/**
 * A region's whole export: the region answers it in pages (the first with the
 * cursor of the rest, `next`), read here one after the other and joined, so
 * what is shown and downloaded holds every record.
 */
async function readExport(region: Region, token: string): Promise<RegionExport> {
  const first = await api<RegionExport & { next: string | null }>(`${region.url}/v1/owner/data`, { token });
  const { next: firstNext, ...data } = first;
  const records = [...data.records];
  let next = firstNext;
  while (next !== null) {
    const page = await api<{ records: RecordView[]; next: string | null }>(
      `${region.url}/v1/owner/data/records?cursor=${encodeURIComponent(next)}`,
      { token },
    );
    records.push(...page.records);
    next = page.next;
  }
  return { ...data, records };
}

/** The token a QR code link carries in the fragment (never sent to a server), or "". */
function tokenFromLink(): string {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match?.[1] === undefined) return "";
  // The token is now in memory: take it out of the address bar and the history.
  history.replaceState(null, "", location.pathname + location.search);
  return decodeURIComponent(match[1]);
}

function App() {
  const [config, setConfig] = useState<PortalConfig | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [token, setToken] = useState<string>(() => tokenFromLink());
  const [opened, setOpened] = useState<boolean>(token !== "");
  useEffect(() => {
    api<PortalConfig>("./config.json")
      .then(setConfig)
      .catch((e: ApiError) => setFailure(e.message));
  }, []);
  if (failure !== null) {
    return (
      <Page title="Your device's data">
        <Notice kind="error">The portal could not start: {failure}</Notice>
      </Page>
    );
  }
  if (config === null) {
    return (
      <Page title="Your device's data">
        <p role="status">Loading…</p>
      </Page>
    );
  }
  if (new URLSearchParams(location.search).get("view") === "transparency") {
    return (
      <Page title="What we collect" nav={<PortalNav />}>
        <Transparency config={config} />
      </Page>
    );
  }
  return (
    <Page title="Your device's data" nav={<PortalNav />}>
      <h1>Your device's data</h1>
      {opened ? (
        <DeviceData
          config={config}
          token={token}
          onClose={() => {
            setOpened(false);
            setToken("");
          }}
        />
      ) : (
        <OpenForm token={token} onToken={setToken} onOpen={() => setOpened(true)} />
      )}
      <BuildCheck config={config} />
    </Page>
  );
}

function PortalNav() {
  return (
    <>
      <a href="./">Your data</a>
      <a href="./?view=transparency">What we collect</a>
    </>
  );
}

interface DataMap {
  generatedAt: string;
  regions: { id: string; storedIn: string; markets: string[]; isDefault: boolean }[];
  collections: {
    name: string;
    version: number;
    description: string;
    purpose: string;
    purposeDescription: string;
    legalBasis: string;
    retention: string;
    regions: { id: string; storedIn: string }[];
    recipients: string[];
    fields: {
      name: string;
      description: string;
      categoryDescription: string;
      transform: string;
      retention: string;
    }[];
  }[];
  publicRoutes: { service: string; method: string; path: string; why: string }[];
}

/** The public transparency page: the data map, in plain language. */
function Transparency(props: { config: PortalConfig }) {
  const [map, setMap] = useState<DataMap | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    api<DataMap>(`${props.config.controlPlane}/v1/data-map`)
      .then(setMap)
      .catch((e: ApiError) => setProblem(e.message));
  }, []);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (map === null) return <p role="status">Loading the data map…</p>;
  return (
    <>
      <h1>What phonehome collects, and why</h1>
      <p>
        Everything a device may send home is listed here, generated from the approved data dictionary on{" "}
        {day(map.generatedAt)}. Nothing else is accepted: a device that sends anything not listed is refused.
      </p>
      <Card title="Where data is stored">
        <ul>
          {map.regions.map((r) => (
            <li key={r.id}>
              Region {r.id}, stored in {r.storedIn}: devices sold in{" "}
              {r.isDefault
                ? `every market not named elsewhere${r.markets.length > 0 ? `, and ${r.markets.join(", ")}` : ""}`
                : r.markets.join(", ")}
              .
            </li>
          ))}
        </ul>
        <p>
          A device's data is stored only in the region of the market it was sold in, and shared with no one
          else.
        </p>
      </Card>
      {map.collections.map((c) => (
        <Card key={`${c.name}-${c.version}`} title={purposeWords(c.purpose)}>
          <p>{c.description}</p>
          <dl class="facts">
            <dt>Why</dt>
            <dd>{basisWords(c.legalBasis)}</dd>
            <dt>Kept for</dt>
            <dd>{c.retention}</dd>
            <dt>Stored in</dt>
            <dd>{c.regions.map((r) => `${r.id} (${r.storedIn})`).join(", ")}</dd>
            <dt>Who receives it</dt>
            <dd>{c.recipients.join(", ")}</dd>
          </dl>
          <Table
            caption={`${c.name}, version ${c.version}`}
            columns={["Field", "What it is", "Kind of data", "How it is stored"]}
            rows={c.fields.map((f) => [
              f.name,
              f.description,
              f.categoryDescription,
              transformWords(f.transform),
            ])}
          />
        </Card>
      ))}
      <Card title="What anyone can read without signing in">
        <p>
          These are the only addresses of phonehome that answer without a device's token or an operator's
          sign-in. None of them names a device or counts what devices do: counts are for the maker's
          operators, with a permission.
        </p>
        <Table
          caption="Public addresses, and why each may be public"
          columns={["Where", "Address", "Why"]}
          rows={map.publicRoutes.map((r) => [r.service, `${r.method} ${r.path}`, r.why])}
        />
      </Card>
    </>
  );
}

function OpenForm(props: { token: string; onToken: (t: string) => void; onOpen: () => void }) {
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <Card title="Open with your device's token">
      <p>
        Your phone shows a token under Settings › Privacy › Your data, as text and as a QR code. Scan the
        code, or copy the text here. The token stays in this page: nobody else sees your data.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (props.token.trim() === "") {
            setProblem("Paste or type the token your device shows.");
            return;
          }
          setProblem(null);
          props.onOpen();
        }}
      >
        <Field
          label="Device token"
          hint="A long line of letters, digits, dots and dashes."
          multiline
          name="token"
          value={props.token}
          onInput={(v) => props.onToken(v.trim())}
        />
        {problem === null ? null : <Notice kind="error">{problem}</Notice>}
        <div class="actions">
          <button type="submit" class="button primary">
            Open my data
          </button>
        </div>
      </form>
    </Card>
  );
}

function DeviceData(props: { config: PortalConfig; token: string; onClose: () => void }) {
  const [held, setHeld] = useState<Held[] | null>(null);
  const [failure, setFailure] = useState<ApiError | null>(null);
  // Bumped after a decision, to read what the regions hold again.
  const [reads, setReads] = useState(0);
  // After an erasure the token opens nothing more (docs/owners.md): what was held is no longer shown.
  const [erased, setErased] = useState(false);
  useEffect(() => {
    let live = true;
    (async () => {
      const { regions } = await api<{ regions: Region[] }>(`${props.config.controlPlane}/v1/regions`);
      const answers = await Promise.all(
        regions.map(async (region): Promise<Held> => {
          try {
            return {
              region,
              data: await readExport(region, props.token),
            };
          } catch (error) {
            return { region, error: error as ApiError };
          }
        }),
      );
      if (live) setHeld(answers);
    })().catch((e: ApiError) => live && setFailure(e));
    return () => {
      live = false;
    };
  }, [props.token, reads]);

  if (failure !== null) return <Notice kind="error">{failure.message}</Notice>;
  if (held === null) return <p role="status">Asking every region what it holds…</p>;
  const refused = held.filter((h): h is { region: Region; error: ApiError } => "error" in h);
  if (refused.length === held.length && refused.every((h) => h.error.code === "auth.owner_token_invalid")) {
    return (
      <>
        <Notice kind="error">
          The token was not accepted: {refused[0]?.error.message}. Check that you copied all of it; a token
          lasts a short while, so ask the device for a new one if it is old.
        </Notice>
        <div class="actions">
          <Button kind="secondary" onClick={() => props.onClose()}>
            Try another token
          </Button>
        </div>
      </>
    );
  }
  const answered = held.filter((h): h is { region: Region; data: RegionExport } => "data" in h);
  const device = answered[0]?.data.device ?? "";
  return (
    <>
      <Card title="What is held about your device">
        {erased ? (
          <p>
            Device <code>{device}</code>. The token was used up by the erasure: it opens nothing more, so that
            nobody who copied it can. To see what is still held, and why, ask your device for a new token.
          </p>
        ) : (
          <p>
            Device <code>{device}</code>. Every region that stores data for phonehome answered below,
            including those that hold nothing about your device.
          </p>
        )}
        <div class="actions">
          {erased ? null : (
            <Button
              onClick={() =>
                download(`phonehome-export-${device.slice(0, 16) || "device"}.json`, {
                  device,
                  exportedAt: new Date().toISOString(),
                  regions: answered.map((h) => h.data),
                  unanswered: refused.map((h) => ({ region: h.region.id, error: h.error.message })),
                })
              }
            >
              Download everything (JSON)
            </Button>
          )}
          <Button kind="secondary" onClick={() => props.onClose()}>
            Close
          </Button>
        </div>
        {refused.map((h) => (
          <Notice kind="error" key={h.region.id}>
            Region {h.region.id} did not answer: {h.error.message}
          </Notice>
        ))}
      </Card>
      {erased ? null : answered.map((h) => <RegionHeld key={h.region.id} held={h.data} />)}
      {erased ? null : (
        <Program
          regions={answered.map((h) => h.region)}
          token={props.token}
          onChange={() => setReads((n) => n + 1)}
        />
      )}
      <Erasure config={props.config} token={props.token} onErased={() => setErased(true)} />
    </>
  );
}

const PROGRAM = "uep.diagnostics";

// A notice's headings sit inside the program's card (an h2): its own levels start at h3.
marked.use({
  renderer: {
    heading({ tokens, depth }) {
      const level = Math.min(depth + 2, 6);
      return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
    },
  },
});

interface PurposeNotice {
  purpose: string;
  currentVersion: number;
  notice: {
    version: number;
    language: string;
    title: string;
    text: string;
    scope: { collections: string[]; retention: string };
    controller: { name: string; contact: string };
    withdraw: string;
  };
}
interface ConsentReceipt {
  receiptId: string;
  issuedAt: string;
  decision?: { granted?: boolean };
}
interface Consents {
  homeRegion: string;
  consents: { purpose: string; granted: boolean; noticeVersion: number; receiptId: string }[];
  history: { receipt: ConsentReceipt; jws: string }[];
}

/** The User Experience Program: the notice, the decision in force, joining or leaving, the receipt. */
function Program(props: { regions: Region[]; token: string; onChange: () => void }) {
  const [home, setHome] = useState<Region | null>(null);
  const [notice, setNotice] = useState<PurposeNotice | null>(null);
  const [consents, setConsents] = useState<Consents | null>(null);
  const [receipt, setReceipt] = useState<{ receipt: ConsentReceipt; jws: string } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const first = props.regions[0];
  useEffect(() => {
    if (first === undefined) return;
    (async () => {
      const anywhere = await api<Consents>(`${first.url}/v1/owner/consents`, { token: props.token });
      const region = props.regions.find((r) => r.id === anywhere.homeRegion) ?? first;
      const lang = navigator.language.split("-")[0] ?? "en";
      const [n, c] = await Promise.all([
        api<PurposeNotice>(`${region.url}/v1/notices/${PROGRAM}?lang=${encodeURIComponent(lang)}`),
        api<Consents>(`${region.url}/v1/owner/consents`, { token: props.token }),
      ]);
      setHome(region);
      setNotice(n);
      setConsents(c);
    })().catch((e: ApiError) => setProblem(e.message));
  }, [first?.url, props.token]);

  if (problem !== null && notice === null) {
    return (
      <Card title="User Experience Program">
        <Notice kind="error">{problem}</Notice>
      </Card>
    );
  }
  if (home === null || notice === null || consents === null) return null;
  const inForce = consents.consents.find((c) => c.purpose === PROGRAM);
  const joined = inForce?.granted === true;
  const decide = async (granted: boolean) => {
    setBusy(true);
    setProblem(null);
    try {
      const signed = await api<{ receipt: ConsentReceipt; jws: string }>(
        `${home.url}/v1/owner/consents/${PROGRAM}`,
        {
          method: "PUT",
          token: props.token,
          body: {
            granted,
            noticeVersion: notice.currentVersion,
            language: notice.notice.language,
            method: "portal",
          },
        },
      );
      setReceipt(signed);
      setConsents(await api<Consents>(`${home.url}/v1/owner/consents`, { token: props.token }));
      props.onChange();
    } catch (error) {
      setProblem((error as ApiError).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="User Experience Program">
      <p>
        {joined
          ? "You are in the program: your device sends diagnostics about how the software performs."
          : "You are not in the program: your device sends no diagnostics."}
      </p>
      <details>
        <summary>Read the notice: {notice.notice.title}</summary>
        <div
          class="prose"
          // The notice is Markdown from the region; rendered by marked and sanitised by DOMPurify.
          dangerouslySetInnerHTML={{
            __html: DOMPurify.sanitize(marked.parse(notice.notice.text, { async: false })),
          }}
        />
        <dl class="facts">
          <dt>Kept for</dt>
          <dd>{notice.notice.scope.retention}</dd>
          <dt>Who decides</dt>
          <dd>
            {notice.notice.controller.name} ({notice.notice.controller.contact})
          </dd>
        </dl>
      </details>
      <div class="actions">
        {joined ? (
          <Button kind="secondary" disabled={busy} onClick={() => decide(false)}>
            Leave the program
          </Button>
        ) : (
          <Button disabled={busy} onClick={() => decide(true)}>
            Join the program
          </Button>
        )}
      </div>
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
      {receipt === null ? null : (
        <Notice kind="success">
          <p>
            {receipt.receipt.decision?.granted
              ? "You joined the program."
              : "You left the program; what it collected is erased."}{" "}
            Receipt <code>{receipt.receipt.receiptId}</code>, signed by region {home.id} on{" "}
            {day(receipt.receipt.issuedAt)}.
          </p>
          <div class="actions">
            <Button
              kind="secondary"
              onClick={() => download(`consent-receipt-${receipt.receipt.receiptId}.json`, receipt)}
            >
              Download the receipt
            </Button>
          </div>
        </Notice>
      )}
    </Card>
  );
}

interface ErasureState {
  requestId: string;
  status: string;
  receipts: {
    region: string;
    receipt: {
      storedIn: string;
      erasedAt: string;
      deleted: { collection: string; count: number }[];
      kept: { collection: string; count: number; reason: string; legalBasis: string; until: string | null }[];
    };
    jws: string;
  }[];
  missing: { region: string; reason: string }[];
}

/** Erasure in every region at once, with each region's signed receipt: what was deleted, what is kept and why. */
function Erasure(props: { config: PortalConfig; token: string; onErased: () => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<ErasureState | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  // One request id for this page: a retry after a region did not answer repeats the same request,
  // which the token may still ask once it has started an erasure (docs/owners.md).
  const [requestId] = useState(() => crypto.randomUUID());
  const erase = async () => {
    setBusy(true);
    setProblem(null);
    try {
      setDone(
        await api<ErasureState>(`${props.config.controlPlane}/v1/subject-requests/erasure`, {
          method: "POST",
          token: props.token,
          body: { requestId },
        }),
      );
      setAsking(false);
      props.onErased();
    } catch (error) {
      setProblem((error as ApiError).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Erase your data">
      <p>
        Every region deletes what it may about your device and signs a receipt that says what it deleted, and
        what it must keep and why (your warranty, proof of your decisions).
      </p>
      {done !== null ? null : asking ? (
        <div class="actions" role="group" aria-label="Confirm the erasure">
          <Button kind="danger" disabled={busy} onClick={erase}>
            Yes, erase my data
          </Button>
          <Button kind="secondary" disabled={busy} onClick={() => setAsking(false)}>
            Cancel
          </Button>
        </div>
      ) : (
        <div class="actions">
          <Button kind="danger" onClick={() => setAsking(true)}>
            Erase my data…
          </Button>
        </div>
      )}
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
      {done === null ? null : (
        <Notice kind={done.status === "complete" ? "success" : "error"}>
          <p>
            {done.status === "complete" ? "Erased in every region." : "Not every region answered; try again."}{" "}
            Request <code>{done.requestId}</code>.
          </p>
          {done.receipts.map((r) => (
            <Table
              key={r.region}
              caption={`Region ${r.region} (stored in ${r.receipt.storedIn}), ${day(r.receipt.erasedAt)}`}
              columns={["What", "Deleted", "Kept", "Why it is kept"]}
              rows={receiptRows(r.receipt)}
            />
          ))}
          <div class="actions">
            <Button
              kind="secondary"
              onClick={() => download(`erasure-receipts-${done.requestId}.json`, done)}
            >
              Download the receipts
            </Button>
          </div>
        </Notice>
      )}
    </Card>
  );
}

function RegionHeld(props: { held: RegionExport }) {
  const { held } = props;
  const byPurpose = new Map<string, RecordView[]>();
  for (const r of held.records) byPurpose.set(r.purpose, [...(byPurpose.get(r.purpose) ?? []), r]);
  return (
    <Card title={`Region ${held.region} — stored in ${held.storedIn}`}>
      {held.records.length === 0 ? (
        <p>Nothing about your device is stored in this region.</p>
      ) : (
        [...byPurpose].map(([purpose, records]) => (
          <section key={purpose} aria-label={purposeWords(purpose)}>
            <h3>{purposeWords(purpose)}</h3>
            {records.map((r) => (
              <div key={`${r.collection}-${r.storedAt}`}>
                <p>{r.description}</p>
                <dl class="facts">
                  <dt>Why it is held</dt>
                  <dd>{basisWords(r.legalBasis)}</dd>
                  <dt>Stored in</dt>
                  <dd>
                    {held.storedIn} (region {held.region})
                  </dd>
                  <dt>Received</dt>
                  <dd>{day(r.storedAt)}</dd>
                  <dt>Deleted by</dt>
                  <dd>{day(r.expiresAt)}</dd>
                </dl>
                <Table
                  caption={`${r.collection} (version ${r.schemaVersion})`}
                  columns={["Field", "Value", "What it is", "How it is stored"]}
                  rows={r.fields.map((f) => [
                    f.name,
                    <code key="v">{typeof f.value === "string" ? f.value : JSON.stringify(f.value)}</code>,
                    f.description,
                    transformWords(f.transform),
                  ])}
                />
              </div>
            ))}
          </section>
        ))
      )}
    </Card>
  );
}

interface Lookup {
  build: string;
  status: string;
  advisories: {
    advisory: { id: string; title: string; description: string };
    status: string;
    fixedIn: string | null;
  }[];
}

function BuildCheck(props: { config: PortalConfig }) {
  const [build, setBuild] = useState("");
  const [answer, setAnswer] = useState<Lookup | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <Card title="Is my device fixed?">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setAnswer(null);
          if (build.trim() === "") {
            setProblem("Type the build number your phone shows.");
            return;
          }
          setProblem(null);
          try {
            setAnswer(
              await api<Lookup>(`${props.config.controlPlane}/v1/lookup/${encodeURIComponent(build.trim())}`),
            );
          } catch (error) {
            setProblem((error as ApiError).message);
          }
        }}
      >
        <Field
          label="Build number"
          hint="Settings › About phone › Build number, such as 00WW_3_39B_SP03."
          name="build"
          value={build}
          onInput={setBuild}
        />
        <div class="actions">
          <button type="submit" class="button secondary">
            Check
          </button>
        </div>
      </form>
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
      {answer === null ? null : (
        <Notice kind={answer.status === "not fixed" ? "error" : "success"}>
          <p>
            <strong>{answer.build}</strong>: {lookupWords(answer.status)}
          </p>
          {answer.advisories.map((a) => (
            <p key={a.advisory.id}>
              {a.advisory.id} — {a.advisory.title}: {a.status}
              {a.fixedIn === null ? "" : `; fixed in ${a.fixedIn}`}. {a.advisory.description}
            </p>
          ))}
        </Notice>
      )}
    </Card>
  );
}

function lookupWords(status: string): string {
  switch (status) {
    case "fixed":
      return "fixed — this build has every fix published for it.";
    case "not fixed":
      return "not fixed — install the update your phone offers.";
    case "not affected":
      return "not affected by any published problem.";
    default:
      return "this build number is not known; check that you typed it as your phone shows it.";
  }
}

/** One row per kind of record in an erasure receipt: how many went, how many stay, and why. */
function receiptRows(receipt: ErasureState["receipts"][number]["receipt"]): string[][] {
  const kinds = [
    ...new Set([...receipt.deleted.map((d) => d.collection), ...receipt.kept.map((k) => k.collection)]),
  ];
  return kinds.map((kind) => {
    const deleted = receipt.deleted.filter((d) => d.collection === kind).reduce((n, d) => n + d.count, 0);
    const kept = receipt.kept.filter((k) => k.collection === kind && k.count > 0);
    const stays = kept.reduce((n, k) => n + k.count, 0);
    const why = kept
      .map(
        (k) =>
          `${k.reason} (${basisWords(k.legalBasis)}${k.until === null ? "" : `, until ${day(k.until)}`})`,
      )
      .join("; ");
    return [recordWords(kind), String(deleted), String(stays), why];
  });
}

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
