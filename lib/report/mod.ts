/**
 * report: telling people what happened. The run summary as text, JSON and GitHub step summary (summary)
 * and the failure webhook (notify).
 *
 * May import: base, pg, store, backup, restore, check.
 * @module
 */
export {};
