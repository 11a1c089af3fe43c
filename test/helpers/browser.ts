/**
 * Browser tests: Debian's Chromium driven by playwright-core. Without
 * Chromium a browser test is skipped with the reason on a laptop, and fails in
 * CI (CI=true), as a missing PostgreSQL does. Every page a journey reaches can
 * be checked with axe-core (`expectAccessible`) and photographed into
 * docs/screenshots/ (`screenshot`), which the README links.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { PACKAGE_ROOT } from "../../src/core/config/index.ts";
import { IN_CI } from "./stores.ts";

/** Where Debian installs Chromium (`apt-get install chromium`). */
export const CHROMIUM = "/usr/bin/chromium";

/** Why browser tests cannot run here, or false. In CI a missing Chromium fails the tests instead. */
export const browserSkip: string | false =
  existsSync(CHROMIUM) || IN_CI ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;

/** Starts headless Chromium with the flags this machine needs (no sandbox as root, no background traffic). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Runs axe-core on the page (WCAG 2.x A and AA) and fails naming every violation. */
export async function expectAccessible(page: Page, where: string): Promise<void> {
  // Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(o: unknown): Promise<{ violations: unknown[] }> } })
      .axe;
    const result = await axe.run({
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return (result.violations as { id: string; help: string; nodes: { target: string[] }[] }[]).map(
      (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`,
    );
  });
  assert.deepEqual(violations, [], `${where}: axe-core found accessibility violations`);
}

/** Writes a full-page screenshot to docs/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = join(PACKAGE_ROOT, "docs", "screenshots");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** A phone's screen, for the pages that must read on one. */
export const PHONE = { viewport: { width: 375, height: 812 }, isMobile: true } as const;

/**
 * Fails when the page is wider than the phone's screen. It measures against
 * the screen's known width: under mobile emulation the page's own
 * `innerWidth` grows with content that overflows, so it cannot tell.
 */
export async function expectFitsPhone(page: Page, where: string): Promise<void> {
  const wide = await page.evaluate(
    // Runs in the page; this project's types have no DOM.
    () =>
      (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
        .documentElement.scrollWidth,
  );
  assert.ok(
    wide <= PHONE.viewport.width,
    `${where}: the page is ${wide} px wide on a ${PHONE.viewport.width} px screen`,
  );
}
