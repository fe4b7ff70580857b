/**
 * S3 credentials, region and endpoint the way the AWS SDKs find them, for `--store s3://…`:
 * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, or a profile
 * (`AWS_PROFILE`, else `default`) of `~/.aws/credentials` and `~/.aws/config`
 * (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`); the region from `AWS_REGION`,
 * `AWS_DEFAULT_REGION` or the profile; the endpoint from `--store-endpoint`, `AWS_ENDPOINT_URL_S3`
 * or `AWS_ENDPOINT_URL` (or the profile's `endpoint_url`). Profiles that need another program (SSO, `credential_process`,
 * `role_arn`) are refused with a hint rather than half-read.
 *
 * Everything here is pure: the caller reads the files and passes their text.
 * @module
 */
import { usageError } from "../base/errors.ts";

/** The sections of an INI file (`[name]`), each a map of lower-case keys to values. */
export type Ini = Map<string, Map<string, string>>;

/**
 * Parses the INI format of the AWS files: `[section]` headers, `key = value` lines, `#` and `;`
 * comment lines. Indented lines (nested values such as `s3 =` blocks) are kept as `parent.key`.
 * Pure; never throws (a line it cannot read is ignored, as the SDKs do).
 */
export function parseIni(text: string): Ini {
  const out: Ini = new Map();
  let section: Map<string, string> | undefined;
  let parent: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\s+[#;].*$/, "").trimEnd();
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    const header = trimmed.match(/^\[\s*([^\]]*?)\s*\]$/);
    if (header) {
      section = out.get(header[1]) ?? new Map();
      out.set(header[1], section);
      parent = undefined;
      continue;
    }
    const kv = trimmed.match(/^([^=]+?)\s*=\s*(.*)$/);
    if (!kv || !section) continue;
    const key = kv[1].toLowerCase();
    if (/^\s/.test(line) && parent) section.set(`${parent}.${key}`, kv[2]);
    else {
      section.set(key, kv[2]);
      parent = kv[2] === "" ? key : undefined;
    }
  }
  return out;
}

/** What {@link resolveAws} found. */
export interface AwsSettings {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  /** The custom endpoint, when one is set (then path-style addressing is used). */
  endpoint?: string;
  /** Where the keys came from, for messages: `AWS_ACCESS_KEY_ID` or `profile 'x'`. */
  keysFrom: string;
}

/** The inputs of {@link resolveAws}: the environment, the files' text (undefined: no file), the flag. */
export interface AwsInputs {
  env: Record<string, string | undefined>;
  credentialsText?: string;
  configText?: string;
  /** `--store-endpoint`, when given. */
  endpoint?: string;
}

/** The region used when none is set anywhere (what the AWS CLI assumes for S3). */
export const DEFAULT_REGION = "us-east-1";

const set = (
  v: string | undefined,
): string | undefined => (v !== undefined && v.trim() !== "" ? v.trim() : undefined);

/**
 * Resolves keys, region and endpoint (see the module doc). With `AWS_PROFILE` set, the profile is
 * used even when key variables are set too (as the SDKs do); without it the variables come first,
 * then the `default` profile. Pure. Throws a usage error (exit 2) naming what to set when no keys
 * are found, when only one half of a key pair is set, or when the profile needs a program.
 */
export function resolveAws(inp: AwsInputs): AwsSettings {
  const env = inp.env;
  const creds = parseIni(inp.credentialsText ?? "");
  const config = parseIni(inp.configText ?? "");
  const profileName = set(env.AWS_PROFILE) ?? "default";
  const fromConfig = config.get(profileName === "default" ? "default" : `profile ${profileName}`) ??
    config.get(profileName);
  const fromCreds = creds.get(profileName);
  const prof = (key: string) => set(fromCreds?.get(key)) ?? set(fromConfig?.get(key));

  let keys: Pick<AwsSettings, "accessKeyId" | "secretAccessKey" | "sessionToken" | "keysFrom"> | undefined;
  const envId = set(env.AWS_ACCESS_KEY_ID);
  const envSecret = set(env.AWS_SECRET_ACCESS_KEY);
  if (!set(env.AWS_PROFILE) && (envId || envSecret)) {
    if (!envId || !envSecret) {
      throw usageError(
        `--store needs both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and only ${
          envId ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY"
        } is set`,
        "set both variables (and AWS_SESSION_TOKEN for temporary keys), or use a profile with AWS_PROFILE",
      );
    }
    const token = set(env.AWS_SESSION_TOKEN);
    keys = {
      accessKeyId: envId,
      secretAccessKey: envSecret,
      ...(token ? { sessionToken: token } : {}),
      keysFrom: "AWS_ACCESS_KEY_ID",
    };
  } else if (fromCreds || fromConfig) {
    const id = prof("aws_access_key_id");
    const secret = prof("aws_secret_access_key");
    if (!id || !secret) {
      const needs = [
        "sso_session",
        "sso_start_url",
        "credential_process",
        "role_arn",
        "web_identity_token_file",
      ]
        .find((k) => prof(k));
      throw usageError(
        needs
          ? `AWS profile '${profileName}' gets its keys through ${needs}, which --store does not run`
          : `AWS profile '${profileName}' has no aws_access_key_id and aws_secret_access_key`,
        'export keys first, e.g. eval "$(aws configure export-credentials --format env)", or put the keys in ~/.aws/credentials',
      );
    }
    const token = prof("aws_session_token");
    keys = {
      accessKeyId: id,
      secretAccessKey: secret,
      ...(token ? { sessionToken: token } : {}),
      keysFrom: `profile '${profileName}'`,
    };
  } else if (set(env.AWS_PROFILE)) {
    throw usageError(
      `AWS_PROFILE names profile '${profileName}', which is in neither ~/.aws/credentials nor ~/.aws/config`,
      "check the profile's name (aws configure list-profiles), or unset AWS_PROFILE and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    );
  }
  if (!keys) {
    throw usageError(
      "--store s3://… needs S3 keys: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials",
      "set the two variables (the service's access key pair), or AWS_PROFILE for a profile",
    );
  }
  const region = set(env.AWS_REGION) ?? set(env.AWS_DEFAULT_REGION) ?? prof("region") ?? DEFAULT_REGION;
  const endpoint = set(inp.endpoint) ?? set(env.AWS_ENDPOINT_URL_S3) ?? set(env.AWS_ENDPOINT_URL) ??
    prof("endpoint_url");
  return { ...keys, region, ...(endpoint ? { endpoint } : {}) };
}

/** Where the endpoint came from, for messages. Pure. */
export function endpointOrigin(inp: Pick<AwsInputs, "env" | "endpoint">): string {
  if (set(inp.endpoint)) return "--store-endpoint";
  if (set(inp.env.AWS_ENDPOINT_URL_S3)) return "$AWS_ENDPOINT_URL_S3";
  if (set(inp.env.AWS_ENDPOINT_URL)) return "$AWS_ENDPOINT_URL";
  return "the AWS profile's endpoint_url";
}
