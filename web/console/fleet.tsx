/**
 * The fleet in the console: models, variants and the region each sends to,
 * builds and their release, batches, devices by serial or batch (each look-up
 * audited); and, for a role that may read it, the
 * adoption of an advisory's fixed builds over time, per batch and market (a
 * uPlot chart with the table beside it).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, type ApiError } from "../shared/api.ts";
import { Button, Card, day, Field, Notice, Table } from "../shared/ui.tsx";
import type { AdoptionReport, Advisory, Batch, Build, Device, Model, Variant } from "@phonehome/shared";

interface Fleet {
  models: Model[];
  variants: Variant[];
  builds: Build[];
  batches: Batch[];
  next: string | null;
}
/** What the devices card shows: one device, or a page or more of a batch's (`batch`, with its cursor). */
interface Shown {
  caption: string;
  devices: Device[];
  batch: string | null;
  next: string | null;
}

export function FleetView(props: { token: string; canReadAdoption: boolean }) {
  const [fleet, setFleet] = useState<Fleet | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const more = async (after: string | null) => {
    const page = await api<{ batches: Fleet["batches"]; next: string | null }>(
      `/v1/fleet/batches?limit=100${after === null ? "" : `&after=${encodeURIComponent(after)}`}`,
      { token: props.token },
    );
    return page;
  };
  useEffect(() => {
    (async () => {
      const [m, v, b, first] = await Promise.all([
        api<{ models: Fleet["models"] }>("/v1/fleet/models"),
        api<{ variants: Fleet["variants"] }>("/v1/fleet/variants"),
        api<{ builds: Fleet["builds"] }>("/v1/fleet/builds"),
        more(null),
      ]);
      setFleet({
        models: m.models,
        variants: v.variants,
        builds: b.builds,
        batches: first.batches,
        next: first.next,
      });
    })().catch((e: ApiError) => setProblem(e.message));
  }, []);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (fleet === null) return <p role="status">Loading the fleet…</p>;
  return (
    <>
      <h1>Fleet</h1>
      {props.canReadAdoption ? <AdoptionView token={props.token} /> : null}
      <Card title="Models and variants">
        <Table
          caption="Variants, and the one region each sends its data to"
          columns={["Variant", "Model", "Region", "What it is"]}
          rows={fleet.variants.map((v) => [
            v.id,
            `${v.model} (${fleet.models.find((m) => m.id === v.model)?.name ?? ""})`,
            v.region,
            v.description,
          ])}
        />
      </Card>
      <Card title="Builds">
        <Table
          caption="Registered builds"
          columns={["Build", "Model", "Variant", "Released"]}
          rows={fleet.builds.map((b) => [
            b.number,
            b.model,
            b.variant,
            b.releasedAt === null ? "not released" : day(b.releasedAt),
          ])}
        />
      </Card>
      <Card title="Batches">
        <Table
          caption={`${fleet.batches.length} batches shown`}
          columns={["Batch", "Model", "Variant", "Market", "Build", "Produced", "Devices"]}
          rows={fleet.batches.map((b) => [
            b.id,
            b.model,
            b.variant,
            b.market,
            b.build,
            day(b.producedAt),
            String(b.size),
          ])}
        />
        {fleet.next === null ? null : (
          <Button
            kind="secondary"
            onClick={async () => {
              const page = await more(fleet.next);
              setFleet({ ...fleet, batches: [...fleet.batches, ...page.batches], next: page.next });
            }}
          >
            More batches
          </Button>
        )}
      </Card>
      <DevicesView token={props.token} batches={fleet.batches} />
    </>
  );
}

/**
 * One device's factory record by serial, or a batch's devices. Serials
 * identify owners: every look-up is in the audit log under the operator's name.
 */
function DevicesView(props: { token: string; batches: Fleet["batches"] }) {
  const [serial, setSerial] = useState("");
  const [batch, setBatch] = useState(props.batches[0]?.id ?? "");
  const [shown, setShown] = useState<Shown | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const show = (work: () => Promise<Shown>) => {
    setProblem(null);
    work()
      .then(setShown)
      .catch((e: ApiError) => {
        setShown(null);
        setProblem(e.message);
      });
  };
  const page = async (id: string, after: string | null) =>
    api<{ devices: Device[]; next: string | null }>(
      `/v1/fleet/devices?batch=${encodeURIComponent(id)}&limit=100${after === null ? "" : `&after=${encodeURIComponent(after)}`}`,
      { token: props.token },
    );
  return (
    <Card title="Devices">
      <p>Each look-up is recorded in the audit log with your name.</p>
      <form
        aria-label="Find a device"
        onSubmit={(e) => {
          e.preventDefault();
          const wanted = serial.trim();
          if (wanted === "") return setProblem("Type the device's serial number.");
          show(async () => ({
            caption: `Device ${wanted}`,
            batch: null,
            devices: [
              await api<Device>(`/v1/fleet/devices/${encodeURIComponent(wanted)}`, { token: props.token }),
            ],
            next: null,
          }));
        }}
      >
        <Field label="Serial number" name="serial" value={serial} onInput={setSerial} />
        <div class="actions">
          <Button type="submit">Find the device</Button>
        </div>
      </form>
      {props.batches.length === 0 ? null : (
        <form
          aria-label="A batch's devices"
          onSubmit={(e) => {
            e.preventDefault();
            show(async () => ({ caption: `Devices of batch ${batch}`, batch, ...(await page(batch, null)) }));
          }}
        >
          <div class="field">
            <label for="devices-batch">Batch</label>
            <select id="devices-batch" value={batch} onChange={(e) => setBatch(e.currentTarget.value)}>
              {props.batches.map((b) => (
                <option key={b.id} value={b.id}>
                  {b.id} — {b.market}, {b.size} devices
                </option>
              ))}
            </select>
          </div>
          <div class="actions">
            <Button type="submit" kind="secondary">
              List the batch's devices
            </Button>
          </div>
        </form>
      )}
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
      {shown === null ? null : (
        <>
          <Table
            caption={shown.caption}
            columns={["Serial", "Model", "Variant", "Market", "Batch", "Provisioned"]}
            rows={shown.devices.map((d) => [
              d.serial,
              d.model,
              d.variant,
              d.market,
              d.batch,
              day(d.provisionedAt),
            ])}
          />
          {shown.next === null ? null : (
            <Button
              kind="secondary"
              onClick={() =>
                show(async () => {
                  // The batch listed, not the one the select shows now.
                  const more = await page(shown.batch ?? "", shown.next);
                  return { ...shown, devices: [...shown.devices, ...more.devices], next: more.next };
                })
              }
            >
              More devices
            </Button>
          )}
        </>
      )}
    </Card>
  );
}

function AdoptionView(props: { token: string }) {
  const [advisories, setAdvisories] = useState<{ id: string; title: string }[] | null>(null);
  const [chosen, setChosen] = useState<string>("");
  const [adoption, setAdoption] = useState<AdoptionReport | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    api<{ advisories: Advisory[] }>("/v1/advisories")
      .then((r) => {
        setAdvisories(r.advisories);
        setChosen(r.advisories.at(-1)?.id ?? "");
      })
      .catch((e: ApiError) => setProblem(e.message));
  }, []);
  useEffect(() => {
    if (chosen === "") return;
    const from = new Date(since() * 1000).toISOString().slice(0, 10);
    api<AdoptionReport>(`/v1/adoption?advisory=${encodeURIComponent(chosen)}&since=${from}`, {
      token: props.token,
    })
      .then(setAdoption)
      .catch((e: ApiError) => setProblem(e.message));
  }, [chosen]);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (advisories === null) return null;
  return (
    <Card title="Adoption of fixed builds">
      {advisories.length === 0 ? (
        <p>No advisory has been published.</p>
      ) : (
        <>
          <div class="field">
            <label for="advisory">Advisory</label>
            <select id="advisory" value={chosen} onChange={(e) => setChosen(e.currentTarget.value)}>
              {advisories.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.id} — {a.title}
                </option>
              ))}
            </select>
          </div>
          {adoption === null ? (
            <p role="status">Asking every region…</p>
          ) : (
            <>
              {adoption.regions.missing.map((m) => (
                <Notice kind="error" key={m.region}>
                  Region {m.region} did not answer ({m.reason}): its devices are missing, not counted as
                  unfixed.
                </Notice>
              ))}
              <AdoptionChart days={adoption.days} />
              <Table
                caption="Share of active devices on a fixed build, by day, batch and market (last 30 days)"
                columns={["Day", "Batch", "Market", "Active", "On a fixed build", "Share"]}
                rows={adoption.days.map((d) => [
                  d.day,
                  d.batch,
                  d.market,
                  String(d.devices),
                  String(d.fixed),
                  `${Math.round(d.share * 100)} %`,
                ])}
              />
            </>
          )}
        </>
      )}
    </Card>
  );
}

/** The start of the adoption figures: 30 days ago, in seconds since the epoch (uPlot's time unit). */
function since(): number {
  return Math.floor((Date.now() - 30 * 86_400_000) / 86_400_000) * 86_400;
}

function AdoptionChart(props: { days: AdoptionReport["days"] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el === null || props.days.length === 0) return;
    const days = [...new Set(props.days.map((d) => d.day))].sort();
    const lines = [...new Set(props.days.map((d) => `${d.batch} ${d.market}`))].sort();
    const palette = ["#0b5cad", "#1d6b35", "#a3182b", "#8a5a00", "#5b3c88", "#4a5361"];
    const chart = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: 220,
        // The axis spans the 30 days asked for, so a single day's point sits where it belongs.
        scales: { x: { time: true, range: [since(), Date.now() / 1000] }, y: { range: [0, 100] } },
        series: [
          {},
          ...lines.map((label, i) => ({
            label,
            stroke: palette[i % palette.length],
            width: 2,
            points: { show: true, size: 6 },
          })),
        ],
        axes: [{}, { label: "% on a fixed build" }],
      },
      [
        days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000),
        ...lines.map((line) =>
          days.map((d) => {
            const row = props.days.find((x) => x.day === d && `${x.batch} ${x.market}` === line);
            return row === undefined ? null : Math.round(row.share * 1000) / 10;
          }),
        ),
      ],
      el,
    );
    return () => chart.destroy();
  }, [props.days]);
  return props.days.length === 0 ? (
    <p>No device of the affected variants has checked for an update in the last 30 days.</p>
  ) : (
    <div ref={box} role="img" aria-label="Adoption over time by batch and market; the table below lists it" />
  );
}
