/**
 * Terminal colour, off for NO_COLOR and non-TTY output (SPEC §2).
 */

/** Colour helpers; identity functions when colour is off. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
}

function sgr(open: number, close: number): (text: string) => string {
  return (text) => `\x1b[${open}m${text}\x1b[${close}m`;
}

const PLAIN: Style = {
  bold: (t) => t,
  dim: (t) => t,
  red: (t) => t,
  green: (t) => t,
  yellow: (t) => t,
};

const COLOUR: Style = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
};

/** Colour when writing to a terminal and NO_COLOR is unset or empty. */
export function makeStyle(isTerminal: boolean, noColor: string | undefined): Style {
  return isTerminal && !noColor ? COLOUR : PLAIN;
}
