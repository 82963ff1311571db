/**
 * How a user-supplied string is shown in a message: quoted, escaped, cut.
 */

/** Longest stretch of a user string a message shows. */
export const SHOW_MAX = 40;

/** `s` cut to `max` characters, with `...` when something was cut. */
export function truncate(s: string, max = SHOW_MAX): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/** A string shown in a message: quoted, escaped, cut to ~40 characters. */
export function quote(s: string): string {
  return s.length > SHOW_MAX
    ? `${JSON.stringify(s.slice(0, SHOW_MAX))}... (${s.length} characters)`
    : JSON.stringify(s);
}
