/**
 * cli: from the command line to plain values. The flag table, parsing and help (flags), the config file
 * (config), the databases a backup reads (sources: config entries, --env, Key Vault) and Azure Key Vault
 * (keyvault). Commands in cmd/ call these, then the domain folders with plain values.
 *
 * May import: every other folder of lib/.
 * @module
 */
export {};
