/** The tool's version, recorded in every manifest. */
export const TOOL_VERSION = "0.1.0";

/** The manifest format version written by this tool. */
export const MANIFEST_FORMAT = 1;
