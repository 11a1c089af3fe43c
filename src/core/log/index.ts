/** Structured logs (pino, JSON lines on stderr), so that stdout stays for what a command prints. */
import { pino } from "pino";

/** A logger for one process. */
export function createLogger(level: string, name = "phonehome"): pino.Logger {
  return pino({ name, level }, pino.destination({ fd: 2, sync: false }));
}

export type Logger = pino.Logger;
