/**
 * The word a user probably meant: the config key for a misspelt one, the command or option of the CLI.
 */

/** The candidate nearest to `word` by edit distance, case aside, when it is near enough to be a likely slip. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (!best || distance < best.distance) best = { candidate, distance }
  }
  // Not one that changes every letter: '' or '0' is no slip of 'ca'.
  return best && best.distance <= Math.max(2, Math.floor(word.length / 3)) && best.distance < word.length ? best.candidate : undefined
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}
