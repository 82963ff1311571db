/**
 * "Did you mean" hints for near-miss names (unknown keys, undefined bottles).
 */

/** Longest input we compare; anything longer is not a typo of a short key. */
const MAX_INPUT = 64;

/**
 * Optimal-string-alignment distance (Damerau/Levenshtein with adjacent
 * transpositions): the number of single-character insertions, deletions,
 * substitutions and swaps of neighbours that turn `a` into `b`.
 */
export function editDistance(a: string, b: string): number {
  const n = a.length;
  const m = b.length;
  if (n === 0) return m;
  if (m === 0) return n;
  // d[i][j] flattened; (n+1) x (m+1).
  const w = m + 1;
  const d = new Array<number>((n + 1) * w);
  for (let i = 0; i <= n; i++) d[i * w] = i;
  for (let j = 0; j <= m; j++) d[j] = j;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1, d[(i - 1) * w + j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[(i - 2) * w + j - 2] + 1);
      }
      d[i * w + j] = v;
    }
  }
  return d[n * w + m];
}

/**
 * The candidate closest to `input` within `maxDistance` edits (ties: the
 * first candidate in order), or `undefined` when none is that close. A
 * candidate that differs in as many characters as either name has (`zz` and
 * `a`) is not a near miss, only a different word.
 */
export function didYouMean(
  input: string,
  candidates: Iterable<string>,
  maxDistance = 2,
): string | undefined {
  if (input.length > MAX_INPUT) return undefined;
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    if (Math.abs(candidate.length - input.length) > maxDistance) continue;
    const distance = editDistance(input, candidate);
    if (distance >= Math.min(input.length, candidate.length)) continue;
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** ` (did you mean "<near>"?)` when a candidate is close to `input`, else `""`. */
export function didYouMeanSuffix(input: string, candidates: Iterable<string>): string {
  const near = didYouMean(input, candidates);
  return near === undefined ? "" : ` (did you mean "${near}"?)`;
}
