// Finds the regular-expression shapes that backtrack exponentially, which maxLength cannot bound.

/** One character's worth of pattern: a literal, an escape such as `\d`, a class or `.`. */
interface CharNode {
  kind: 'char';
  source: string;
  /** The single literal character this atom matches, when it is one. */
  literal: string | undefined;
  /** The flags in force where the atom stands: the pattern's, changed by `(?i:…)` groups. */
  flags: string;
}

/** `^`, `$`, `\b`, `\B`: they consume nothing. */
interface AssertNode {
  kind: 'assert';
}

interface GroupNode {
  kind: 'group';
  alternatives: Node[][];
  /** A lookahead or lookbehind: checked on its own, consumes nothing. */
  lookaround: boolean;
}

interface RepeatNode {
  kind: 'repeat';
  node: Node;
  min: number;
  max: number;
}

type Node = CharNode | AssertNode | GroupNode | RepeatNode;

/** Thrown while parsing, for a shape refused outright. */
class Refused extends Error {}

const SYNTAX = new Set(['.', '^', '$', '|', '(', ')', '[', ']', '{', '}', '*', '+', '?']);

/** The parts of `source` that make one node each, with the flags that change their meaning. */
function parse(source: string, flags: string): Node[][] {
  const unicode = flags.includes('u') || flags.includes('v');
  let i = 0;
  let current = flags;

  // The length of the escape at `i`, as the engine reads it with these flags; every escape that
  // is not an assertion or a backreference matches exactly one character.
  const escapeLength = (): number => {
    const rest = source.slice(i);
    const next = rest[1] ?? '';
    if (next === 'u') {
      if (unicode && rest[2] === '{') return rest.indexOf('}') + 1;
      // With `u`, an escaped surrogate pair is one character.
      if (unicode && /^\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}/.test(rest))
        return 12;
      return /^\\u[0-9a-fA-F]{4}/.test(rest) ? 6 : 2;
    }
    if (next === 'x') return /^\\x[0-9a-fA-F]{2}/.test(rest) ? 4 : 2;
    if (next === 'c') return /^\\c[a-zA-Z]/.test(rest) ? 3 : 1;
    if ((next === 'p' || next === 'P') && unicode && rest[2] === '{') return rest.indexOf('}') + 1;
    // Without `u`, `\01` and `\012` are octal escapes (`\0` then `8` or `9` is not).
    if (next === '0' && !unicode) return /^\\0[0-7]{0,2}/.exec(rest)?.[0].length ?? 2;
    return 2;
  };

  const escapeAtom = (): Node => {
    const next = source[i + 1] ?? '';
    if (/[1-9]/.test(next) || next === 'k') throw new Refused('it uses a backreference');
    if (next === 'b' || next === 'B') {
      i += 2;
      return { kind: 'assert' };
    }
    const length = escapeLength();
    if (length === 1) {
      // Without `u`, a `\c` not followed by a letter is a backslash, then the letter c.
      i++;
      return { kind: 'char', source: '\\\\', literal: '\\', flags: current };
    }
    const text = source.slice(i, i + Math.max(length, 2));
    i += Math.max(length, 2);
    const literal = text.length === 2 && !/[a-zA-Z0-9]/.test(next) ? next : undefined;
    return { kind: 'char', source: text, literal, flags: current };
  };

  const charClass = (): Node => {
    const start = i;
    let depth = 0;
    i++;
    if (source[i] === '^') i++;
    if (source[i] === ']' && !flags.includes('v')) i++;
    while (i < source.length) {
      const c = source[i];
      if (c === '\\') i += 2;
      else if (c === '[' && flags.includes('v')) {
        depth++;
        i++;
      } else if (c === ']') {
        i++;
        if (depth === 0) break;
        depth--;
      } else i++;
    }
    return { kind: 'char', source: source.slice(start, i), literal: undefined, flags: current };
  };

  const alternatives = (): Node[][] => {
    const result: Node[][] = [[]];
    while (i < source.length) {
      const c = source[i] as string;
      const sequence = result[result.length - 1] as Node[];
      if (c === ')') return result;
      if (c === '|') {
        result.push([]);
        i++;
        continue;
      }
      const counted = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i)) : null;
      if (c === '*' || c === '+' || c === '?' || counted) {
        let min = c === '+' ? 1 : 0;
        let max = c === '?' ? 1 : Number.POSITIVE_INFINITY;
        let length = 1;
        if (counted) {
          length = counted[0].length;
          min = Number(counted[1]);
          max =
            counted[2] === undefined
              ? min
              : counted[3] === ''
                ? Number.POSITIVE_INFINITY
                : Number(counted[3]);
        }
        if (source[i + length] === '?') length++;
        const last = sequence.pop();
        // A quantifier with nothing before it does not compile; ajv reports that.
        if (last) sequence.push({ kind: 'repeat', node: last, min, max });
        i += length;
        continue;
      }
      if (c === '\\') {
        sequence.push(escapeAtom());
        continue;
      }
      if (c === '[') {
        sequence.push(charClass());
        continue;
      }
      if (c === '(') {
        let lookaround = false;
        const outside = current;
        if (/^\(\?<?[=!]/.test(source.slice(i))) {
          lookaround = true;
          i += source[i + 2] === '<' ? 4 : 3;
        } else if (source[i + 1] === '?') {
          // (?:...), (?<name>...) and modifier groups such as (?i:...)
          const prefix = /^\(\?(?:<[^>]*>|([a-zA-Z]*)(?:-([a-zA-Z]*))?:)/.exec(source.slice(i));
          if (!prefix) throw new Refused('it has a group this check cannot read');
          const [, add = '', remove = ''] = prefix;
          current = [...new Set(current + add)].filter((flag) => !remove.includes(flag)).join('');
          i += prefix[0].length;
        } else {
          i++;
        }
        const inner = alternatives();
        current = outside;
        if (source[i] !== ')') throw new Refused('it has an unbalanced parenthesis');
        i++;
        sequence.push({ kind: 'group', alternatives: inner, lookaround });
        continue;
      }
      if (c === '^' || c === '$') {
        sequence.push({ kind: 'assert' });
        i++;
        continue;
      }
      // With `u` or `v` an atom is a code point; without, a UTF-16 code unit.
      const char = unicode ? String.fromCodePoint(source.codePointAt(i) as number) : c;
      sequence.push({
        kind: 'char',
        source: char,
        literal: SYNTAX.has(char) ? undefined : char,
        flags: current,
      });
      i += char.length;
    }
    return result;
  };

  const top = alternatives();
  if (i < source.length) throw new Refused('it has an unbalanced parenthesis');
  return top;
}

/** A stretch of the alphabet as one string: BMP characters take one code unit, others two. */
interface Stretch {
  start: number;
  width: 1 | 2;
  text: string;
}

// Surrogates get stretches of their own so that, with `u`, a high one never pairs with the low
// one after it and turns into a different character.
const BMP_STRETCHES: [number, number][] = [
  [0, 0xd800],
  [0xd800, 0xdc00],
  [0xdc00, 0xe000],
  [0xe000, 0x10000],
];

function buildStretch(start: number, end: number): Stretch {
  const parts: string[] = [];
  const codes: number[] = [];
  for (let code = start; code < end; code++) {
    codes.push(code);
    if (codes.length === 4096) {
      parts.push(String.fromCodePoint(...codes));
      codes.length = 0;
    }
  }
  parts.push(String.fromCodePoint(...codes));
  return { start, width: start >= 0x10000 ? 2 : 1, text: parts.join('') };
}

// Every code point written out takes about 4 MB; it is rebuilt if the collector took it.
let alphabetRef: WeakRef<Stretch[]> | undefined;

/** Every code point (with `u` or `v`) or every UTF-16 code unit (without), in stretches. */
function alphabet(unicode: boolean): Stretch[] {
  let stretches = alphabetRef?.deref();
  if (!stretches) {
    stretches = BMP_STRETCHES.map(([start, end]) => buildStretch(start, end));
    for (let plane = 1; plane <= 0x10; plane++) {
      stretches.push(buildStretch(plane * 0x10000, (plane + 1) * 0x10000));
    }
    alphabetRef = new WeakRef(stretches);
  }
  return unicode ? stretches : stretches.slice(0, BMP_STRETCHES.length);
}

/** Sorted, disjoint, half-open ranges of code points: `[start0, end0, start1, end1, ...]`. */
type Ranges = number[];

// In `v` mode a class can match strings of several characters (`\q{ab}`, `\p{RGI_Emoji}`): one
// atom is then not one character, and its characters cannot be listed.
const STRINGS = /\\q\{|\\p\{(?:Basic_Emoji|Emoji_Keycap_Sequence|RGI_Emoji\w*)\}/;

/**
 * The exact set of characters `source` (one atom) matches with `flags`, asked of the engine
 * itself over the whole alphabet, so Unicode properties, case folding and `v`-mode set
 * operations are as the pattern will run them. `undefined` when the atom does not compile on
 * its own or can match something other than one character.
 */
function listCharacters(source: string, flags: string): Ranges | undefined {
  const unicode = flags.includes('u') || flags.includes('v');
  if (flags.includes('v') && STRINGS.test(source)) return undefined;
  let matching: RegExp;
  let other: RegExp;
  try {
    matching = new RegExp(`(?:${source})+`, `${flags}y`);
    other = new RegExp(`(?:(?!${source})[^])+`, `${flags}y`);
  } catch {
    return undefined;
  }
  const ranges: Ranges = [];
  for (const { start, width, text } of alphabet(unicode)) {
    let at = 0;
    while (at < text.length) {
      matching.lastIndex = at;
      const run = matching.exec(text)?.[0].length ?? 0;
      // Every match must cover whole characters of this stretch, one or more of them.
      if (run % width !== 0) return undefined;
      if (run > 0) {
        const from = start + at / width;
        const to = from + run / width;
        if (ranges[ranges.length - 1] === from) ranges[ranges.length - 1] = to;
        else ranges.push(from, to);
        at += run;
      }
      other.lastIndex = at;
      const gap = other.exec(text)?.[0].length ?? 0;
      if (gap % width !== 0 || (run === 0 && gap === 0)) return undefined;
      at += gap;
    }
  }
  return ranges;
}

/** The first code point in both range lists, or `undefined`. */
function firstCommon(a: Ranges, b: Ranges): number | undefined {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const start = Math.max(a[i] as number, b[j] as number);
    const end = Math.min(a[i + 1] as number, b[j + 1] as number);
    if (start < end) return start;
    if ((a[i + 1] as number) < (b[j + 1] as number)) i += 2;
    else j += 2;
  }
  return undefined;
}

// Atoms recur across the schemas of one app (`[a-z]`, `\d`, `\p{L}`); each is listed once.
const LISTED = new Map<string, Ranges | undefined>();
const LISTED_MAX = 512;

/** What two atoms have in common: a character both match, or the atom that cannot be listed. */
type Common = { code: number } | { unlisted: string };

/** The characters `atom` matches, with the flags in force where it stands. */
function characters(atom: CharNode): Ranges | undefined {
  // `g`, `y` and `d` change how a match is reported, `m` only what `^` and `$` mean.
  const flags = [...new Set(atom.flags.replace(/[gydm]/g, ''))].sort().join('');
  if (atom.literal !== undefined && !flags.includes('i')) {
    const code = atom.literal.codePointAt(0) as number;
    return [code, code + 1];
  }
  const key = `${flags}/${atom.source}`;
  if (LISTED.has(key)) return LISTED.get(key);
  const ranges = listCharacters(atom.source, flags);
  if (LISTED.size >= LISTED_MAX) LISTED.delete(LISTED.keys().next().value as string);
  LISTED.set(key, ranges);
  return ranges;
}

/**
 * A character both atoms match, or `undefined` when there is none. An atom whose characters
 * cannot be listed is taken to match every character, so the answer is never "none" wrongly.
 */
function common(a: CharNode, b: CharNode): Common | undefined {
  const left = characters(a);
  if (!left) return { unlisted: a.source };
  const right = characters(b);
  if (!right) return { unlisted: b.source };
  const code = firstCommon(left, right);
  return code === undefined ? undefined : { code };
}

/** Names the character two atoms share, for a message: `U+0531 "Ա"`, or the unlisted atom. */
function describeCommon(common: Common): string {
  if ('unlisted' in common) {
    return `as far as this check can tell: it cannot list the characters ${common.unlisted} matches, so it counts it as matching any character`;
  }
  const hex = common.code.toString(16).toUpperCase().padStart(4, '0');
  const char = String.fromCodePoint(common.code);
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(char)
    ? `for example U+${hex} "${char}"`
    : `for example U+${hex}`;
}

interface Info {
  nullable: boolean;
  first: CharNode[];
  last: CharNode[];
}

/** Glushkov positions: which atom can follow which, and every repetition that loops. */
class Automaton {
  readonly follow = new Map<CharNode, Set<CharNode>>();
  readonly loops: RepeatNode[] = [];
  private readonly infos = new Map<Node, Info>();

  info(node: Node): Info {
    let info = this.infos.get(node);
    if (!info) {
      info = this.compute(node);
      this.infos.set(node, info);
    }
    return info;
  }

  private link(from: CharNode[], to: CharNode[]): void {
    for (const a of from) {
      let set = this.follow.get(a);
      if (!set) {
        set = new Set();
        this.follow.set(a, set);
      }
      for (const b of to) set.add(b);
    }
  }

  sequence(nodes: Node[]): Info {
    let acc: Info = { nullable: true, first: [], last: [] };
    for (const node of nodes) {
      const next = this.info(node);
      this.link(acc.last, next.first);
      acc = {
        nullable: acc.nullable && next.nullable,
        first: acc.nullable ? [...acc.first, ...next.first] : acc.first,
        last: next.nullable ? [...acc.last, ...next.last] : next.last,
      };
    }
    return acc;
  }

  private compute(node: Node): Info {
    switch (node.kind) {
      case 'char':
        return { nullable: false, first: [node], last: [node] };
      case 'assert':
        return { nullable: true, first: [], last: [] };
      case 'group': {
        const parts = node.alternatives.map((alternative) => this.sequence(alternative));
        if (node.lookaround) return { nullable: true, first: [], last: [] };
        return {
          nullable: parts.some((part) => part.nullable),
          first: parts.flatMap((part) => part.first),
          last: parts.flatMap((part) => part.last),
        };
      }
      case 'repeat': {
        const body = this.info(node.node);
        if (node.max === 0) return { nullable: true, first: [], last: [] };
        if (node.max > 1) {
          // Any count above one may go round again: `x{3}` is treated like `x+` here.
          this.loops.push(node);
          this.link(body.last, body.first);
        }
        return { nullable: node.min === 0 || body.nullable, first: body.first, last: body.last };
      }
    }
  }
}

/** Every atom inside `node`, lookarounds excluded. */
function charsOf(node: Node, out: CharNode[] = []): CharNode[] {
  if (node.kind === 'char') out.push(node);
  else if (node.kind === 'repeat') charsOf(node.node, out);
  else if (node.kind === 'group' && !node.lookaround) {
    for (const alternative of node.alternatives) for (const part of alternative) charsOf(part, out);
  }
  return out;
}

/** Repetitions of varying count (`+`, `*`, `{1,3}`) inside `node`, at any depth. */
function innerLoops(node: Node, out: RepeatNode[] = []): RepeatNode[] {
  if (node.kind === 'repeat') {
    if (node.max > 1 && node.min < node.max) out.push(node);
    innerLoops(node.node, out);
  } else if (node.kind === 'group' && !node.lookaround) {
    for (const alternative of node.alternatives)
      for (const part of alternative) innerLoops(part, out);
  }
  return out;
}

/** The nodes of a one-alternative body, with plain groups opened up. */
function flatten(node: Node): Node[] {
  if (node.kind === 'group' && !node.lookaround && node.alternatives.length === 1) {
    return (node.alternatives[0] as Node[]).flatMap(flatten);
  }
  return [node];
}

function alternativesRisk(body: Node): string | undefined {
  if (body.kind !== 'group' || body.lookaround || body.alternatives.length < 2) return undefined;
  const seen: CharNode[] = [];
  for (const alternative of body.alternatives) {
    const first = alternative[0];
    if (first?.kind !== 'char' || first.literal === undefined) {
      return 'a repeated group has alternatives that do not each start with a distinct literal character';
    }
    for (const other of seen) {
      const shared = common(other, first);
      if (shared) {
        return `a repeated group has alternatives that start with the same character (${describeCommon(shared)})`;
      }
    }
    seen.push(first);
  }
  return undefined;
}

function nestedRisk(body: Node): string | undefined {
  const inner = innerLoops(body).flatMap((loop) => charsOf(loop.node));
  if (inner.length === 0) return undefined;
  // Each pass of the outer repetition must consume one character that nothing repeated inside
  // can match; then there is one way to split the input, and matching stays linear.
  let clash: string | undefined;
  const free = (char: CharNode) =>
    inner.every((other) => {
      const shared = common(char, other);
      if (shared)
        clash ??= `${char.source} is also matched by ${other.source}, ${describeCommon(shared)}`;
      return shared === undefined;
    });
  const anchored =
    body.kind === 'group' && !body.lookaround && body.alternatives.length > 1
      ? body.alternatives.every((alternative) => {
          const first = alternative[0];
          return first?.kind === 'char' && free(first);
        })
      : flatten(body).some((part) => part.kind === 'char' && free(part));
  if (anchored) return undefined;
  return `a repeated group repeats something inside it with no separator it cannot match (nested quantifiers${clash ? `; ${clash}` : ''})`;
}

/**
 * Inside a repetition, two different atoms that can come next must not match the same
 * character: `(a?a)+` and `([a-z]+A)+` with the `i` flag can split `aaaa…` in exponentially many
 * ways. The next atom after the last one of a pass is the first of the next pass.
 */
function ambiguityRisk(loop: RepeatNode, automaton: Automaton): string | undefined {
  const inside = new Set(charsOf(loop.node));
  const choices = [automaton.info(loop.node).first];
  for (const char of inside) choices.push([...(automaton.follow.get(char) ?? [])]);
  for (const choice of choices) {
    const next = choice.filter((char) => inside.has(char));
    for (let a = 0; a < next.length; a++) {
      for (let b = a + 1; b < next.length; b++) {
        const [x, y] = [next[a] as CharNode, next[b] as CharNode];
        const shared = x === y ? undefined : common(x, y);
        if (shared) {
          return `inside a repeated group, ${x.source} and ${y.source} can both match the next character, ${describeCommon(shared)} (overlapping optional or repeated parts)`;
        }
      }
    }
  }
  return undefined;
}

/**
 * Why `source` may take exponential time on a short input, or `undefined`. The shapes below are
 * judged conservatively (some safe patterns are refused, and a linear-time engine such as RE2 is
 * the only guarantee), but whether two parts can match the same character is decided exactly:
 * each part's characters are listed by the engine itself over every code point, with the flags
 * in force where the part stands (`flags`, the pattern's own: ajv compiles schema patterns with
 * `u`; and `(?i:…)` groups), so Unicode properties, case folding and `v`-mode classes count as
 * the pattern will run them. A part whose characters cannot be listed (a `v`-mode class of
 * strings) counts as matching every character. Refused, for every repetition that can go round
 * more than once:
 * - a body that can match the empty string (`(a?)+`, `(?:a?){30}`);
 * - alternatives that do not start with distinct literal characters (`(a|a)*`, `(\w|_)+`);
 * - something repeated inside with no separator it cannot match (`(a+)+`, `(\w+\s?)*`,
 *   `(.+\.)+`; fine: `(\d+\.){3}`, `[a-z]+(-[a-z]+)*`);
 * - two parts that can both match the next character (`(a?a)+`, `([a-z]+A)+` with `i`);
 * and backreferences.
 */
export function regexRisk(source: string, flags = 'u'): string | undefined {
  let tree: Node[][];
  try {
    tree = parse(source, flags);
  } catch (err) {
    if (err instanceof Refused) return err.message;
    throw err;
  }
  const automaton = new Automaton();
  automaton.info({ kind: 'group', alternatives: tree, lookaround: false });
  for (const loop of automaton.loops) {
    if (automaton.info(loop.node).nullable) {
      return 'a repeated group can match the empty string, so each pass can match in more than one way';
    }
    const risk =
      alternativesRisk(loop.node) ?? nestedRisk(loop.node) ?? ambiguityRisk(loop, automaton);
    if (risk) return risk;
  }
  return undefined;
}
