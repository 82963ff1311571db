/**
 * Where a TOML syntax error really is, when the parser stops late.
 *
 * smol-toml reports the position where it gave up. For an array or inline
 * table that is never closed that is far from the mistake: `allow = ["a"`
 * on line 3 followed by `[agents.x]` on line 5 is reported at 5:1
 * ("unexpected character"), or at the end of the file ("unfinished array").
 * This scanner finds the brackets of the document's values (skipping
 * strings, comments and table headers) and which of them are never closed:
 * an array is unclosed when the file ends, or a line that can only be a new
 * key or table header begins, while it is open; an inline table when its
 * line ends first. The parse error is then reported at that opening bracket.
 */

/** A `[` or `{` that opens a value and is never closed. */
export interface UnclosedBracket {
  kind: "array" | "inline table";
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** The offset from which the document reads as if it were closed (what ended it). */
  endOffset: number;
}

const KEY = String.raw`(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')`;
const DOTTED = String.raw`${KEY}(?:[ \t]*\.[ \t]*${KEY})*`;
/** A line that can only start a new table or key/value, never continue an array. */
const NEW_STATEMENT = new RegExp(
  String.raw`^[ \t]*(?:\[\[?[ \t]*${DOTTED}[ \t]*\]\]?[ \t]*(?:#.*)?$|${DOTTED}[ \t]*=)`,
);

/** Every value bracket of `text` that is never closed, in the order they open. */
export function unclosedBrackets(text: string): UnclosedBracket[] {
  const found: UnclosedBracket[] = [];
  const open: { kind: "array" | "inline table"; offset: number }[] = [];
  let valueContext = false;
  let lineStart = 0;
  const position = (offset: number) => {
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    return { line, column: offset - (before.lastIndexOf("\n") + 1) + 1 };
  };
  const abandon = (at: number) => {
    for (const b of open) found.push({ kind: b.kind, ...position(b.offset), endOffset: at });
    open.length = 0;
    valueContext = false;
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\n") {
      i++;
      lineStart = i;
      if (open.length === 0) {
        valueContext = false;
        continue;
      }
      if (open[open.length - 1].kind === "inline table") abandon(i);
      else if (NEW_STATEMENT.test(lineAt(text, i))) abandon(i);
      continue;
    }
    if (ch === "#") {
      const end = text.indexOf("\n", i);
      i = end === -1 ? text.length : end;
      continue;
    }
    if (ch === '"' || ch === "'") {
      i = skipString(text, i);
      continue;
    }
    if (!valueContext) {
      // A table header at the start of a line: skip it whole.
      if (ch === "[" && text.slice(lineStart, i).trim() === "") {
        const end = text.indexOf("\n", i);
        i = end === -1 ? text.length : end;
        continue;
      }
      if (ch === "=") valueContext = true;
      i++;
      continue;
    }
    if (ch === "[" || ch === "{") {
      open.push({ kind: ch === "[" ? "array" : "inline table", offset: i });
      // Keys inside an inline table come before an `=` again.
      if (ch === "{") valueContext = false;
    } else if (ch === "]" || ch === "}") {
      open.pop();
    } else if (ch === "=" && open.length > 0) {
      valueContext = true;
    } else if (ch === "," && open.length > 0 && open[open.length - 1].kind === "inline table") {
      valueContext = false;
    }
    i++;
  }
  abandon(text.length);
  return found;
}

/** The line starting at `offset`, without its newline. */
function lineAt(text: string, offset: number): string {
  const end = text.indexOf("\n", offset);
  return text.slice(offset, end === -1 ? undefined : end);
}

/** The offset just past the string starting at `start` (basic, literal, multi-line). */
function skipString(text: string, start: number): number {
  const quote = text[start];
  const triple = text.startsWith(quote.repeat(3), start);
  if (triple) {
    let i = start + 3;
    while (i < text.length) {
      if (quote === '"' && text[i] === "\\") {
        i += 2;
        continue;
      }
      if (text.startsWith(quote.repeat(3), i)) {
        // Up to two more quotes may belong to the string's content.
        let end = i + 3;
        while (end < text.length && text[end] === quote && end < i + 5) end++;
        return end;
      }
      i++;
    }
    return text.length;
  }
  let i = start + 1;
  while (i < text.length && text[i] !== "\n") {
    if (quote === '"' && text[i] === "\\") {
      i += 2;
      continue;
    }
    if (text[i] === quote) return i + 1;
    i++;
  }
  return i;
}

/** Offset of 1-based `line`:`column` in `text`. */
export function offsetOf(text: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf("\n", offset);
    if (next === -1) return text.length;
    offset = next + 1;
  }
  return Math.min(text.length, offset + column - 1);
}

/**
 * The unclosed bracket a parse error at `line`:`column` comes from: one still open there,
 * opened on an earlier line (on the same line the parser's own position is already right).
 * The innermost such bracket; undefined when there is none.
 */
export function unclosedAt(
  text: string,
  line: number,
  column: number,
): UnclosedBracket | undefined {
  const offset = offsetOf(text, line, column);
  const candidates = unclosedBrackets(text).filter((b) => {
    const opened = offsetOf(text, b.line, b.column);
    return opened < offset && offset <= b.endOffset && b.line < line;
  });
  return candidates[candidates.length - 1];
}
