/**
 * phonehome's design system: a few components, each accessible by
 * construction (a field always has its label, a status is announced, a
 * button says what it does), styled by `ui.css` with one set of tokens.
 */
import type { ButtonHTMLAttributes, ComponentChildren, TargetedEvent } from "preact";
import { useId } from "preact/hooks";

/** A page's frame: skip link, header with the product's name, the main content. */
export function Page(props: { title: string; children: ComponentChildren; nav?: ComponentChildren }) {
  return (
    <>
      <a class="skip" href="#main">
        Skip to the content
      </a>
      <header class="bar">
        <span class="brand">phonehome</span>
        <span class="bar-title">{props.title}</span>
        {props.nav === undefined ? null : <nav aria-label="Sections">{props.nav}</nav>}
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}

/** A titled section of a page. */
export function Card(props: { title: string; level?: 2 | 3; children: ComponentChildren; id?: string }) {
  const Heading = props.level === 3 ? "h3" : "h2";
  const id = useId();
  return (
    <section class="card" aria-labelledby={id} id={props.id}>
      <Heading id={id}>{props.title}</Heading>
      {props.children}
    </section>
  );
}

/** A button; `kind` says how much it matters ("danger" for what cannot be undone). */
export function Button(
  props: { kind?: "primary" | "secondary" | "danger" } & ButtonHTMLAttributes<HTMLButtonElement>,
) {
  const { kind = "primary", class: _class, ...rest } = props;
  return <button type="button" class={`button ${kind}`} {...rest} />;
}

/** A labelled text input or text area, with an optional hint. */
export function Field(props: {
  label: string;
  value: string;
  onInput: (value: string) => void;
  hint?: string;
  multiline?: boolean;
  name?: string;
  autoComplete?: string;
  spellcheck?: boolean;
  type?: "text" | "password";
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const common = {
    id,
    name: props.name,
    value: props.value,
    "aria-describedby": props.hint === undefined ? undefined : hintId,
    spellcheck: props.spellcheck ?? false,
    autoComplete: props.autoComplete ?? "off",
    onInput: (e: TargetedEvent<HTMLInputElement | HTMLTextAreaElement>) =>
      props.onInput(e.currentTarget.value),
  };
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.hint === undefined ? null : (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      )}
      {props.multiline ? (
        <textarea rows={4} {...common} />
      ) : props.type === "password" ? (
        <input type="password" {...common} />
      ) : (
        <input type="text" {...common} />
      )}
    </div>
  );
}

/** A message the reader should notice: announced to screen readers as it appears. */
export function Notice(props: { kind: "info" | "success" | "error"; children: ComponentChildren }) {
  return (
    <div class={`notice ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

/** A table with a caption and column headers, in a frame that scrolls when the table is wider than the page. */
export function Table(props: { caption: string; columns: string[]; rows: ComponentChildren[][] }) {
  return (
    // A wide table scrolls sideways inside its frame, which keyboard users reach with Tab.
    <div class="table-wrap" tabIndex={0} role="region" aria-label={`${props.caption} (table)`}>
      <table>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row, i) => (
            <tr key={i}>
              {row.map((cell, j) =>
                j === 0 ? (
                  <th scope="row" key={j}>
                    {cell}
                  </th>
                ) : (
                  <td key={j}>{cell}</td>
                ),
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A date as the reader's locale writes it (UTC day). */
export function day(iso: string): string {
  return new Date(iso).toLocaleDateString(undefined, {
    year: "numeric",
    month: "long",
    day: "numeric",
    timeZone: "UTC",
  });
}
