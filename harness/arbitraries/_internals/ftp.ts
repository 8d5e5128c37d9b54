/**
 * FTP control-channel text: the "interesting" messages the OVS FTP ALG parses
 * (docs/conntrack-semantics.md §8.2; RFC 959 PORT/227, RFC 2428 EPRT/229). Over IPv4 the ALG only
 * reads PORT/227, over IPv6 only EPRT/229, so the announcement follows the flow's family.
 */
import type { Family } from '../types.js';

function v4Commas(addr: string): string {
  return addr.split('.').join(',');
}

/** The PORT / EPRT line (active mode, client → server). */
export function activeAnnounce(family: Family, addr: string, port: number): string {
  if (family === 4) return `PORT ${v4Commas(addr)},${port >> 8},${port & 0xff}\r\n`;
  return `EPRT |2|${addr}|${port}|\r\n`;
}

/** The 227 / 229 reply (passive mode, server → client). 229 carries no address (RFC 2428 3). */
export function passiveAnnounce(family: Family, addr: string, port: number): string {
  if (family === 4) return `227 Entering Passive Mode (${v4Commas(addr)},${port >> 8},${port & 0xff}).\r\n`;
  return `229 Entering Extended Passive Mode (|||${port}|)\r\n`;
}

/** Ordinary chatter around the announcement (not parsed by the ALG). */
export const FTP_CHATTER = {
  banner: '220 ctoffload FTP ready\r\n',
  user: 'USER anonymous\r\n',
  pass331: '331 Password required\r\n',
  pass: 'PASS guest\r\n',
  login230: '230 Logged in\r\n',
  pasv: 'PASV\r\n',
  epsv: 'EPSV\r\n',
  portOk: '200 PORT command successful\r\n',
  retr: 'RETR file.bin\r\n',
  opening150: '150 Opening BINARY mode data connection\r\n',
  done226: '226 Transfer complete\r\n',
  quit: 'QUIT\r\n',
  bye221: '221 Goodbye\r\n',
} as const;
