/** TLS material for tests. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** A self-signed certificate for 127.0.0.1, made with the system's openssl. */
export function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, "tls.crt");
  const key = join(dir, "tls.key");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}
