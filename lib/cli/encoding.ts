/**
 * The encoding flags of a backup (`--compress`, `--encrypt-to`, `--recipients-file`), apart from
 * args.ts: checking a recipient needs the age library, which a command that does not encode (a
 * restore) does not load.
 * @module
 */
import { listValue, optionalString, type ParsedArgs, stringValue } from "./flags.ts";
import { usageError } from "../base/errors.ts";
import { checkRecipient, type EncodeSettings, parseRecipients } from "../store/encode.ts";

/**
 * Reads `--compress`, `--encrypt-to` and `--recipients-file` into {@link EncodeSettings}. Throws a
 * usage error (exit 2) naming the flag or file for an unknown method, a bad recipient, or a
 * recipients file that is missing or empty.
 */
export function encodeSettings(args: ParsedArgs): EncodeSettings {
  const c = stringValue(args, "compress");
  if (c !== "none" && c !== "gzip" && c !== "zstd") {
    throw usageError(
      `${args.origin.compress ?? "--compress"} must be none, gzip or zstd, got '${c}'`,
      "use --compress gzip or --compress zstd, or leave it out for plain files (best in git)",
    );
  }
  const recipients: string[] = [];
  for (const r of listValue(args, "encrypt-to")) {
    checkRecipient(r.trim(), args.origin["encrypt-to"] ?? "--encrypt-to");
    recipients.push(r.trim());
  }
  const file = optionalString(args, "recipients-file");
  if (file !== undefined) {
    const origin = `${args.origin["recipients-file"] ?? "--recipients-file"} '${file}'`;
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch (e) {
      throw usageError(
        `${origin} cannot be read: ${(e as Error).message.split(" (")[0].split(":")[0]}`,
        "point --recipients-file at a text file with one age recipient (age1…) a line",
      );
    }
    const fromFile = parseRecipients(text, origin);
    if (fromFile.length === 0) {
      throw usageError(`${origin} holds no recipient`, "add one age recipient (age1…) a line");
    }
    recipients.push(...fromFile);
  }
  return { ...(c === "none" ? {} : { compression: c }), recipients: [...new Set(recipients)] };
}
