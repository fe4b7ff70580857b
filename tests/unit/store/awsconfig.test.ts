import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { DEFAULT_REGION, parseIni, resolveAws } from "../../../lib/store/awsconfig.ts";
import { BackupError } from "../../../lib/base/errors.ts";

const usage = (re: RegExp) => (e: unknown) =>
  e instanceof BackupError && e.exitCode === 2 && re.test(e.message);

Deno.test("parseIni reads sections, keys in lower case, comments and nested blocks", () => {
  const ini = parseIni(
    "# top\n[default]\nAWS_Access_Key_Id = AK\naws_secret_access_key=SK ; note\n\n[profile r2]\nregion = auto\ns3 =\n  addressing_style = path\n",
  );
  assertEquals(ini.get("default")?.get("aws_access_key_id"), "AK");
  assertEquals(ini.get("default")?.get("aws_secret_access_key"), "SK");
  assertEquals(ini.get("profile r2")?.get("region"), "auto");
  assertEquals(ini.get("profile r2")?.get("s3.addressing_style"), "path");
});

Deno.test("resolveAws: variables first, then the default profile; region and endpoint", () => {
  assertEquals(
    resolveAws({
      env: {
        AWS_ACCESS_KEY_ID: "A",
        AWS_SECRET_ACCESS_KEY: "S",
        AWS_SESSION_TOKEN: "T",
        AWS_REGION: "eu-west-1",
      },
      credentialsText: "[default]\naws_access_key_id = X\naws_secret_access_key = Y\n",
    }),
    {
      accessKeyId: "A",
      secretAccessKey: "S",
      sessionToken: "T",
      keysFrom: "AWS_ACCESS_KEY_ID",
      region: "eu-west-1",
    },
  );
  assertEquals(
    resolveAws({
      env: { AWS_ENDPOINT_URL: "https://e", AWS_ENDPOINT_URL_S3: "https://s3e" },
      credentialsText: "[default]\naws_access_key_id = X\naws_secret_access_key = Y\n",
      configText: "[default]\nregion = auto\n",
    }),
    {
      accessKeyId: "X",
      secretAccessKey: "Y",
      keysFrom: "profile 'default'",
      region: "auto",
      endpoint: "https://s3e",
    },
  );
  const r = resolveAws({
    env: { AWS_ACCESS_KEY_ID: "A", AWS_SECRET_ACCESS_KEY: "S" },
    endpoint: "https://flag",
  });
  assertEquals([r.region, r.endpoint], [DEFAULT_REGION, "https://flag"]);
});

Deno.test("resolveAws: AWS_PROFILE wins over key variables and reads [profile x] of the config", () => {
  const r = resolveAws({
    env: {
      AWS_PROFILE: "b2",
      AWS_ACCESS_KEY_ID: "A",
      AWS_SECRET_ACCESS_KEY: "S",
      AWS_DEFAULT_REGION: "us-west-004",
    },
    configText:
      "[profile b2]\naws_access_key_id = K\naws_secret_access_key = L\nendpoint_url = https://s3.us-west-004.backblazeb2.com\n",
  });
  assertEquals(r, {
    accessKeyId: "K",
    secretAccessKey: "L",
    keysFrom: "profile 'b2'",
    region: "us-west-004",
    endpoint: "https://s3.us-west-004.backblazeb2.com",
  });
});

Deno.test("resolveAws: missing or half keys, unknown and SSO profiles are usage errors", () => {
  throws(() => resolveAws({ env: {} }), usage(/needs S3 keys/));
  throws(() => resolveAws({ env: { AWS_ACCESS_KEY_ID: "A" } }), usage(/only AWS_ACCESS_KEY_ID is set/));
  throws(() => resolveAws({ env: { AWS_PROFILE: "nope" } }), usage(/profile 'nope'/));
  throws(
    () => resolveAws({ env: { AWS_PROFILE: "sso" }, configText: "[profile sso]\nsso_session = corp\n" }),
    usage(/through sso_session/),
  );
});
