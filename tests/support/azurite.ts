/**
 * Azurite, Microsoft's Azure Blob Storage emulator, for tests: {@link startAzurite} runs the copy
 * `deno task setup` installed (see `dev/azuriteenv.ts`) on a free port with its data in a temp dir,
 * plain HTTP by default, or HTTPS with a fresh self-signed certificate and OAuth (bearer tokens)
 * enabled. One per test file is enough: containers keep tests apart. It is stopped by
 * {@link Azurite.stop}, when the test process unloads, and by a watchdog if the process dies. A
 * missing install makes the test fail (never skip), naming `deno task setup`.
 * @module
 */
import { join } from "node:path";
import { azuriteBlobEntry, azuriteProvisioned } from "../../dev/azuriteenv.ts";
import { DEV_ACCOUNT, DEV_KEY } from "../../lib/store/azblob.ts";
import { HttpTransport } from "../../lib/store/http.ts";

/** A running Azurite Blob service. */
export interface Azurite {
  port: number;
  /** The Blob service URL: `http(s)://127.0.0.1:<port>/devstoreaccount1`. */
  endpoint: string;
  account: string;
  /** The well-known development key. */
  key: string;
  /** `DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;BlobEndpoint=…;` */
  connectionString: string;
  /** With `https`: the PEM certificate to trust, an HTTP client and an upload transport that trust it. */
  caCertPath?: string;
  client?: Deno.HttpClient;
  transport?: HttpTransport;
  /** The data directory. */
  location: string;
  /** Stops the server and removes its data. Idempotent. */
  stop(): Promise<void>;
}

/** Running servers: pid → data dir. */
const running = new Map<number, string>();
globalThis.addEventListener("unload", () => {
  for (const [pid, location] of running) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
    try {
      Deno.removeSync(location, { recursive: true });
    } catch {
      // gone, or still held: the temp dir is cleaned by the system
    }
  }
});

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function exec(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts a detached shell that kills `pid` when this test process ends. */
async function startWatchdog(pid: number): Promise<void> {
  const script = `while kill -0 ${Deno.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pid} 2>/dev/null`;
  const r = await exec("sh", ["-c", `nohup sh -c "$1" >/dev/null 2>&1 </dev/null &`, "sh", script]);
  if (r.code !== 0) throw new Error(`cannot start the Azurite watchdog: ${r.stderr.trim()}`);
}

/** Writes a self-signed certificate for 127.0.0.1 (not a CA, as TLS clients want of a server). */
async function selfSigned(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = await exec("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
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
    "-addext",
    "basicConstraints=critical,CA:FALSE",
  ]);
  if (r.code !== 0) throw new Error(`openssl could not make a test certificate: ${r.stderr.trim()}`);
  return { cert, key };
}

/**
 * Starts Azurite's Blob service on a free port with a temp data dir. With `https`, it serves TLS
 * with a fresh self-signed certificate and accepts OAuth bearer tokens (`--oauth basic`: it checks
 * a token's issuer, audience and lifetime, not its signature). Throws when Azurite is not
 * installed or does not start within 30 s.
 */
export async function startAzurite(opts: { https?: boolean } = {}): Promise<Azurite> {
  if (!await azuriteProvisioned()) {
    throw new Error("Azurite is not installed: run 'deno task setup' (or deno run -A dev/azuriteenv.ts)");
  }
  const location = await Deno.makeTempDir({ prefix: "azurite-" });
  const args = ["--blobHost", "127.0.0.1", "--location", location, "--silent", "--disableTelemetry"];
  let tls: { cert: string; key: string } | undefined;
  if (opts.https) {
    tls = await selfSigned(location);
    args.push("--cert", tls.cert, "--key", tls.key, "--oauth", "basic");
  }
  const scheme = opts.https ? "https" : "http";
  const pem = tls ? await Deno.readTextFile(tls.cert) : undefined;
  const client = pem ? Deno.createHttpClient({ caCerts: [pem] }) : undefined;
  const transport = pem ? new HttpTransport({ caCerts: [pem] }) : undefined;
  const log = join(location, "azurite.log");
  let pid = 0;
  const stop = async () => {
    if (pid) {
      const p = pid;
      pid = 0;
      running.delete(p);
      try {
        Deno.kill(p, "SIGTERM");
        for (let i = 0; i < 50; i++) {
          // gone, or a zombie nobody reaps (a container's init may not)
          if (/^\d+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${p}/stat`))) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        Deno.kill(p, "SIGKILL");
      } catch {
        // gone
      }
    }
  };
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = freePort();
    // Detached (no handle held by the test), so one server serves every test of a file.
    const r = await exec("sh", [
      "-c",
      `log="$1"; shift; exec node "$@" >>"$log" 2>&1 </dev/null & echo $!`,
      "sh",
      log,
      azuriteBlobEntry(),
      "--blobPort",
      String(port),
      ...args,
    ]);
    pid = Number(r.stdout.trim());
    if (r.code !== 0 || !pid) throw new Error(`cannot start Azurite: ${r.stderr.trim()}`);
    running.set(pid, location);
    await startWatchdog(pid);
    const endpoint = `${scheme}://127.0.0.1:${port}/${DEV_ACCOUNT}`;
    const deadline = Date.now() + 30_000;
    let up = false;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${endpoint}?comp=list`, client ? { client } : {});
        await res.body?.cancel();
        up = true;
        break;
      } catch {
        // not listening yet
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    if (up) {
      return {
        port,
        endpoint,
        account: DEV_ACCOUNT,
        key: DEV_KEY,
        connectionString:
          `DefaultEndpointsProtocol=${scheme};AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${endpoint};`,
        ...(tls ? { caCertPath: tls.cert, client, transport } : {}),
        location,
        stop: async () => {
          await stop();
          client?.close();
          transport?.close();
          await Deno.remove(location, { recursive: true }).catch(() => {});
        },
      };
    }
    await stop();
    const text = await Deno.readTextFile(log).catch(() => "");
    if (attempt < 3 && /EADDRINUSE/.test(text)) continue;
    client?.close();
    throw new Error(`Azurite did not start:\n${text.trim().split("\n").slice(-10).join("\n")}`);
  }
  throw new Error("Azurite did not start");
}
