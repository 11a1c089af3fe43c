/**
 * Signing in: through the organisation's OpenID provider where the control
 * plane has one ("Sign in with <name>", a link the control plane answers by
 * sending the browser to the provider), and with an operator's name and
 * password where local accounts may sign in (`/console/config.json` says
 * which). A refusal the provider's callback handed back is shown here.
 */
import { useId, useState } from "preact/hooks";
import { api, type ApiError } from "../shared/api.ts";
import { Card, Field, Notice } from "../shared/ui.tsx";
import { type Me, type Session, SIGN_IN_BEGUN_KEY } from "./session.ts";
import type { ConsoleConfig, NewSession } from "@phonehome/shared";

export function SignIn(props: {
  config: ConsoleConfig;
  /** Why the last sign-in through the provider was refused, as its callback said. */
  refused: string | null;
  onSignedIn: (s: Session) => void;
}) {
  const { provider, passwordSignIn } = props.config;
  return (
    <Card title="Sign in">
      {props.refused === null ? null : <Notice kind="error">{props.refused}</Notice>}
      {provider === null ? null : (
        <div class="actions">
          <a
            class="button primary"
            href={provider.signInUrl}
            onClick={() => sessionStorage.setItem(SIGN_IN_BEGUN_KEY, String(Date.now()))}
          >
            Sign in with {provider.name}
          </a>
        </div>
      )}
      {passwordSignIn === "none" ? null : (
        <PasswordForm
          onSignedIn={props.onSignedIn}
          heading={
            provider === null
              ? null
              : passwordSignIn === "admin"
                ? "Local administrator (break-glass)"
                : "Local account"
          }
        />
      )}
    </Card>
  );
}

function PasswordForm(props: { heading: string | null; onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const headingId = useId();
  return (
    <form
      aria-labelledby={props.heading === null ? undefined : headingId}
      onSubmit={async (e) => {
        e.preventDefault();
        setProblem(null);
        try {
          const { token } = await api<NewSession>("/v1/sessions", {
            method: "POST",
            body: { username, password },
          });
          props.onSignedIn({ token, me: await api<Me>("/v1/sessions/current", { token }) });
        } catch (error) {
          setProblem((error as ApiError).message);
        }
      }}
    >
      {props.heading === null ? null : <h3 id={headingId}>{props.heading}</h3>}
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
  );
}
