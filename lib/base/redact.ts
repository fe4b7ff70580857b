/**
 * Secret masking. Every secret the tool learns (a database password, a Key Vault value) is
 * registered here, and every text that may reach a terminal, a file or a commit passes through
 * {@link redact}.
 * @module
 */

const secrets = new Set<string>();

/** The mask that replaces a secret. */
export const MASK = "****";

/**
 * Registers a secret so that {@link redact} masks it, together with its percent-encoded forms.
 * Secrets shorter than 3 characters are not registered (they would mask ordinary text).
 */
export function registerSecret(secret: string | undefined): void {
  if (!secret || secret.length < 3) return;
  secrets.add(secret);
  secrets.add(encodeURIComponent(secret));
  secrets.add(encodeURIComponent(secret).toLowerCase());
  try {
    const decoded = decodeURIComponent(secret);
    if (decoded.length >= 3) secrets.add(decoded);
  } catch {
    // not percent-encoded
  }
}

/**
 * True when `text` has the shape of a private key: an age identity (`AGE-SECRET-KEY-1…`, any case),
 * an age plugin identity (`AGE-PLUGIN-…-1…`) or a PEM/OpenSSH private key. Such a value is never
 * echoed in a message. Pure.
 */
export function isSecretKey(text: string): boolean {
  return /^AGE-(?:SECRET-KEY|PLUGIN-[A-Z0-9-]+)-1/i.test(text.trim()) || /PRIVATE KEY/.test(text);
}

/** An age identity anywhere in a text (bech32: digits and letters, any case). */
const AGE_IDENTITY = /AGE-SECRET-KEY-1[0-9A-Z]{20,}/gi;

/**
 * Replaces every registered secret in `text` with {@link MASK}, longest secrets first, and every
 * age identity (`AGE-SECRET-KEY-1…`), registered or not, with `AGE-SECRET-KEY-1****`.
 */
export function redact(text: string): string {
  let out = text.replace(AGE_IDENTITY, `AGE-SECRET-KEY-1${MASK}`);
  if (secrets.size === 0) return out;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join(MASK);
  }
  return out;
}

/** Forgets every registered secret (for tests). */
export function clearSecrets(): void {
  secrets.clear();
}
