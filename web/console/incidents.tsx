/**
 * Incidents in the console: every incident, one incident's devices,
 * destinations and notices, and sending a notice.
 */
import type { Incident, IncidentSummary } from "@phonehome/shared";
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError, apiText, download } from "../shared/api.ts";
import { Button, Card, day, Field, Notice, Table } from "../shared/ui.tsx";
import type { Session } from "./session.ts";

export function Incidents(props: { session: Session }) {
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

export function IncidentView(props: { id: string; session: Session }) {
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
