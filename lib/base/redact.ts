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

/** Replaces every registered secret in `text` with {@link MASK}; longest secrets first. */
export function redact(text: string): string {
  if (secrets.size === 0) return text;
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join(MASK);
  }
  return out;
}

/** Forgets every registered secret (for tests). */
export function clearSecrets(): void {
  secrets.clear();
}
