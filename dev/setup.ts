/**
 * `deno task setup`: provisions the PostgreSQL programs the tests and the demo use (see
 * `dev/pgenv.ts`) and builds the Supabase Storage server the Storage tests run (see
 * `dev/storageenv.ts`) and installs Azurite, the Azure Blob emulator of the `azblob://` store tests
 * (see `dev/azuriteenv.ts`), then prints where they are. Safe to run again; quick when nothing is missing.
 * @module
 */
import { clientBinDir, ensureProvisioned, PG_CACHE, serverBinDir } from "./pgenv.ts";
import { ensureStorageServer, STORAGE_CACHE } from "./storageenv.ts";
import { AZURITE_CACHE, ensureAzurite } from "./azuriteenv.ts";

if (import.meta.main) {
  const quiet = Deno.args.includes("--quiet") || Deno.args.includes("-q");
  try {
    await ensureProvisioned({ quiet });
    await ensureStorageServer({ quiet });
    await ensureAzurite({ quiet });
  } catch (e) {
    console.error(`setup: error: ${(e as Error).message}`);
    Deno.exit(1);
  }
  if (!quiet) {
    console.error(`setup: ready (cache ${PG_CACHE})`);
    console.error(`setup:   client 17  ${clientBinDir()}`);
    console.error(`setup:   server 17  ${serverBinDir(17)}`);
    console.error(`setup:   server 15  ${serverBinDir(15)}`);
    console.error(`setup:   storage    ${STORAGE_CACHE}`);
    console.error(`setup:   azurite    ${AZURITE_CACHE}`);
  }
}
