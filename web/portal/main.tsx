/**
 * The owner portal: open with the token the device shows (typed, pasted, or
 * from its QR code link, `#token=…`), see per region everything held about the
 * device, grouped by purpose, and download it; check whether a build is fixed.
 * It calls only the documented APIs: the control plane's region list and
 * lookup, and each region's owner routes. This file starts it; each part is
 * its own file.
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError } from "../shared/api.ts";
import { Notice, Page } from "../shared/ui.tsx";
import "../shared/ui.css";
import type { PortalConfig } from "@phonehome/shared";
import { Transparency } from "./transparency.tsx";
import { BuildCheck } from "./build-check.tsx";
import { OpenForm, DeviceData } from "./device-data.tsx";

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

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
