/**
 * cli: from the command line to plain values. The flag table with every default and range, parsing, help
 * and the flag readers (flags), the readers several commands share: roots, --from, --target-url,
 * connection settings, retention, encoding (args), the config file (config), the databases a backup reads
 * (sources: config entries, --env, Key Vault) and Azure Key Vault (keyvault). Commands in cmd/ call these,
 * then the domain folders with plain values; no other folder sees parsed flags.
 *
 * May import: every other folder of lib/.
 * @module
 */
export {};
