/**
 * Records real loopback traffic while a test runs, with Debian's tcpdump:
 * `startCapture` returns once tcpdump listens, `stop()` ends it and answers
 * the pcap file. Without tcpdump (or without the right to capture) the tests
 * that need it are skipped with the reason on a laptop, and fail in CI.
 */
import { spawn, spawnSync } from "node:child_process";
import { IN_CI } from "./stores.ts";

const TCPDUMP = "tcpdump";

function probe(): string | false {
  const version = spawnSync(TCPDUMP, ["--version"], { encoding: "utf8" });
  if (version.error !== undefined) return "no tcpdump (apt-get install -y tcpdump)";
  const list = spawnSync(TCPDUMP, ["-D"], { encoding: "utf8" });
  if (list.status !== 0 || !/\blo\b/.test(list.stdout)) {
    return `tcpdump cannot capture on lo here (${(list.stderr || list.stdout).trim().split("\n")[0] ?? ""})`;
  }
  return false;
}

/** Why captures cannot be recorded here, or false. In CI a missing tcpdump fails the tests instead. */
export const captureSkip: string | false = IN_CI ? false : probe();

/** Starts tcpdump on the loopback interface with a capture filter, writing `file`. */
export async function startCapture(file: string, filter: string): Promise<{ stop: () => Promise<string> }> {
  const child = spawn(TCPDUMP, ["-i", "lo", "-U", "--immediate-mode", "-s", "0", "-w", file, filter], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes("listening on")) resolve();
    });
    child.on("error", reject);
    void closed.then((code) => reject(new Error(`tcpdump exited (${code}) before listening: ${stderr}`)));
  });
  return {
    stop: async () => {
      // Packets written with -U reach the file at once; a moment lets the last ones through the kernel.
      await new Promise((resolve) => setTimeout(resolve, 200));
      child.kill("SIGINT");
      const code = await closed;
      if (code !== 0 && code !== null) throw new Error(`tcpdump failed (${code}): ${stderr}`);
      return file;
    },
  };
}
