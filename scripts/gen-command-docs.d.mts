// Types of scripts/gen-command-docs.mjs for the unit test that imports it.
export const END_MARKER: string;
export function parseCommandNames(topHelp: string): string[];
export function dropReportingGroup(help: string): string;
export function renderHead(title: string, source: string, help: string, extra?: string): string;
export function spliceHead(existing: string | undefined, head: string): string;
export function renderPages(readHelp: (words: string[]) => string, readExisting: (file: string) => string | undefined): Map<string, string>;
export function differingFiles(expectedDir: string, actualDir: string): string[];
