// Types of scripts/lib/test-guest.mjs for the test helpers that import it.
export const GUEST_READY_MARKER: string;
export const GUEST_JOURNAL_PATH: string;
export const PARTITION_JOURNAL_PATH: string;
export const GUEST_PARTITION_OFFSET: number;
export const GUEST_DISK_MIB: number;
export function escapeXml(text: string): string;
export interface GuestDomainXmlOptions {
  name: string;
  uuid?: string | undefined;
  /** Raw XML for the domain's <metadata> element. */
  metadata?: string | undefined;
  diskPath: string;
  serialLog: string;
  memoryMiB?: number | undefined;
  type?: 'qemu' | 'kvm' | undefined;
  vnc?: boolean | undefined;
  agentChannel?: boolean | undefined;
}
export function guestDomainXml(options: GuestDomainXmlOptions): string;
export interface JournalLine {
  seq: number;
  boot: string;
  uptime: number;
  epoch: number;
}
export interface JournalCheck {
  /** Whole lines (ending in a newline), valid or not. */
  lines: number;
  valid: JournalLine[];
  /** One message per bad line: checksum mismatch, wrong number, unreadable fields. */
  errors: string[];
  /** The text ends in a partial line (no newline). */
  tornLastLine: boolean;
}
export function checkJournal(text: string): JournalCheck;
