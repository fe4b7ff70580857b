/**
 * `--store URL`: reading the URL (`s3://BUCKET/PREFIX`, `azblob://CONTAINER/PREFIX`) and opening
 * the object store it names, with the service's usual credentials (lib/store/awsconfig.ts for S3,
 * lib/store/azblob.ts for Azure Blob).
 * Parsing is pure; {@link openStore} reads the AWS files and never prints a key.
 * @module
 */
import { join } from "node:path";
import { usageError } from "../base/errors.ts";
import { type AwsInputs, endpointOrigin, resolveAws } from "./awsconfig.ts";
import { openAzblob } from "./azblob.ts";
import type { ObjectStore } from "./object.ts";
import { parseEndpoint, S3Client } from "./s3.ts";
import { S3ObjectStore } from "./s3store.ts";

/** A parsed `--store` URL. */
export interface StoreUrl {
  kind: "s3" | "azblob";
  /** The bucket (S3) or container (Azure). */
  bucket: string;
  /** Key prefix without leading or trailing slash; may be empty. */
  prefix: string;
}

const STORE_HINT = "give --store s3://BUCKET/PREFIX or azblob://CONTAINER/PREFIX (e.g. s3://my-backups/prod)";

/**
 * Parses a `--store` URL (`origin` names the flag, variable or config key in messages). Pure.
 * Throws a usage error for another scheme, a bad bucket or container name, or a prefix with empty,
 * `.` or `..` segments, a backslash or control characters.
 */
export function parseStoreUrl(text: string, origin: string): StoreUrl {
  const m = text.trim().match(/^([a-z0-9]+):\/\/([^/]*)(?:\/([\s\S]*))?$/i);
  if (!m) throw usageError(`${origin} '${text}' is not an object-store URL`, STORE_HINT);
  const kind = m[1].toLowerCase();
  if (kind !== "s3" && kind !== "azblob") {
    throw usageError(
      `${origin} '${text}': the scheme must be s3:// or azblob://, not ${m[1]}://`,
      STORE_HINT,
    );
  }
  const bucket = m[2];
  const valid = kind === "s3"
    ? /^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$/.test(bucket)
    : /^[a-z0-9](?:[a-z0-9]|-(?!-)){2,62}$/.test(bucket) && !bucket.endsWith("-");
  if (!valid) {
    throw usageError(
      `${origin} '${text}': '${bucket}' is not a valid ${kind === "s3" ? "bucket" : "container"} name`,
      kind === "s3"
        ? "a bucket name has 2 to 63 letters, digits, dots, hyphens or underscores"
        : "a container name has 3 to 63 lower-case letters, digits and single hyphens",
    );
  }
  const prefix = (m[3] ?? "").replace(/\/+$/, "");
  if (prefix) {
    for (const seg of prefix.split("/")) {
      // deno-lint-ignore no-control-regex
      if (seg === "" || seg === "." || seg === ".." || /[\\\x00-\x1f\x7f]/.test(seg)) {
        throw usageError(
          `${origin} '${text}': the prefix '${prefix}' has an empty, '.' or '..' part, a backslash or a control character`,
          STORE_HINT,
        );
      }
    }
  }
  return { kind, bucket, prefix };
}

/** Shows a store URL for messages (the canonical form). Pure. */
export function showStoreUrl(u: StoreUrl): string {
  return `${u.kind}://${u.bucket}${u.prefix ? `/${u.prefix}` : ""}`;
}

/** The store URL for one environment of a run: `<prefix>/<env>` as folders use `<out>/<env>`. Pure. */
export function environmentStore(u: StoreUrl, env?: string): StoreUrl {
  if (!env) return u;
  return { ...u, prefix: u.prefix ? `${u.prefix}/${env}` : env };
}

/** What {@link openStore} needs besides the URL. */
export interface OpenStoreOptions {
  /** `--store-endpoint`, when given. */
  endpoint?: string;
  env: Record<string, string | undefined>;
  retries: number;
  log?: (line: string) => void;
}

async function readOptional(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw usageError(
      `cannot read ${path}: ${(e as Error).message.split(" (")[0]}`,
      "check the file's permissions, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead",
    );
  }
}

/**
 * Opens the store a URL names. S3: keys, region and endpoint from the usual places (see
 * lib/store/awsconfig.ts); path-style whenever an endpoint is set, else AWS's virtual-hosted
 * `https://BUCKET.s3.REGION.amazonaws.com`. Azure Blob: a connection string, an account key or
 * `az login` (see lib/store/azblob.ts). Nothing is sent yet. Throws a usage error when the
 * credentials or endpoint are missing or bad.
 */
export async function openStore(u: StoreUrl, o: OpenStoreOptions): Promise<ObjectStore> {
  if (u.kind === "azblob") {
    return openAzblob(u.bucket, u.prefix, {
      env: o.env,
      endpoint: o.endpoint,
      retries: o.retries,
      log: o.log,
    });
  }
  const home = o.env.HOME ?? "";
  const inputs: AwsInputs = {
    env: o.env,
    endpoint: o.endpoint,
    credentialsText: await readOptional(
      o.env.AWS_SHARED_CREDENTIALS_FILE ?? (home && join(home, ".aws", "credentials")),
    ),
    configText: await readOptional(o.env.AWS_CONFIG_FILE ?? (home && join(home, ".aws", "config"))),
  };
  const aws = resolveAws(inputs);
  const shown = showStoreUrl(u);
  const endpoint = aws.endpoint
    ? parseEndpoint(aws.endpoint, endpointOrigin(inputs))
    : `https://${u.bucket}.s3.${aws.region}.amazonaws.com`;
  const client = new S3Client({
    endpoint,
    region: aws.region,
    accessKeyId: aws.accessKeyId,
    secretAccessKey: aws.secretAccessKey,
    ...(aws.sessionToken ? { sessionToken: aws.sessionToken } : {}),
    ...(aws.endpoint ? {} : { bucketInHost: true }),
    flagPrefix: "--store",
    envPrefix: "AWS",
    hints: {
      keys:
        `check the keys for ${shown} (from ${aws.keysFrom}) and AWS_REGION; the key needs read, write, list and delete on the bucket`,
      endpoint:
        `check --store-endpoint ($AWS_ENDPOINT_URL_S3) and the network; no backup in ${shown} was changed`,
      server: `the object store failed on every try; run again later (no backup in ${shown} was changed)`,
    },
  }, { retries: o.retries, log: o.log });
  return new S3ObjectStore(client, u.bucket, u.prefix);
}
