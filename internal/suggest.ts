// The "did you mean" of every package: which known option name a misspelt one was meant to be.

/** The Levenshtein distance between `a` and `b`, ignoring case. */
export function editDistance(a: string, b: string): number {
  const from = a.toLowerCase();
  const to = b.toLowerCase();
  const row = Array.from({ length: to.length + 1 }, (_, j) => j);
  for (let i = 1; i <= from.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= to.length; j++) {
      const above = row[j]!;
      const substitution = diagonal + (from[i - 1] === to[j - 1] ? 0 : 1);
      row[j] = Math.min(above + 1, row[j - 1]! + 1, substitution);
      diagonal = above;
    }
  }
  return row[to.length]!;
}

/**
 * The known name `name` was most likely meant to be, or `undefined` when none is close enough to
 * be a typo. Case is ignored. In order:
 *
 * 1. the known name fewest edits away, when it is within max(2, a third of `name`'s length)
 *    edits; on a tie, one with the same first letter (typos rarely hit the first letter), then
 *    the first in `known`;
 * 2. the only known name that shares `name`'s first 3 or more characters (`banTime` → `banMs`,
 *    `retry` → `retryAfter`); none when two or more share the longest such start;
 * 3. the only known name that begins with `name` give or take one edit (`tll` → `ttlMs`).
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const names = known.map((candidate) => candidate.toLowerCase());

  let best = -1;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const [i, other] of names.entries()) {
    const distance = editDistance(lower, other);
    const betterStart = other[0] === lower[0] && names[best]?.[0] !== lower[0];
    if (distance < bestDistance || (distance === bestDistance && betterStart)) {
      best = i;
      bestDistance = distance;
    }
  }
  if (best >= 0 && bestDistance <= Math.max(2, Math.floor(name.length / 3))) return known[best];

  for (let length = lower.length; length >= 3; length--) {
    const start = lower.slice(0, length);
    const sharing = known.filter((_, i) => names[i]!.startsWith(start));
    if (sharing.length === 1) return sharing[0];
    if (sharing.length > 1) return undefined;
  }

  if (lower.length < 3) return undefined;
  const beginning = known.filter((_, i) => {
    const other = names[i]!;
    if (other.length <= lower.length) return false;
    for (const length of [lower.length - 1, lower.length, lower.length + 1]) {
      if (editDistance(lower, other.slice(0, length)) <= 1) return true;
    }
    return false;
  });
  return beginning.length === 1 ? beginning[0] : undefined;
}
