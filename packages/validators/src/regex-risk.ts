// Finds the regular-expression shapes that backtrack exponentially, which maxLength cannot bound.

/** One character's worth of pattern: a literal, an escape such as `\d`, a class or `.`. */
interface CharNode {
  kind: 'char';
  source: string;
  /** The single literal character this atom matches, when it is one. */
  literal: string | undefined;
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

  const escapeAtom = (): Node => {
    const next = source[i + 1] ?? '';
    if (/[1-9]/.test(next) || next === 'k') throw new Refused('it uses a backreference');
    if (next === 'b' || next === 'B') {
      i += 2;
      return { kind: 'assert' };
    }
    let length = 2;
    if (next === 'u' && source[i + 2] === '{' && unicode) length = source.indexOf('}', i) - i + 1;
    else if (next === 'u') length = 6;
    else if (next === 'x') length = 4;
    else if (next === 'c') length = 3;
    else if ((next === 'p' || next === 'P') && source[i + 2] === '{' && unicode)
      length = source.indexOf('}', i) - i + 1;
    const text = source.slice(i, i + Math.max(length, 2));
    i += Math.max(length, 2);
    const literal = text.length === 2 && !/[a-zA-Z0-9]/.test(next) ? next : undefined;
    return { kind: 'char', source: text, literal };
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
    return { kind: 'char', source: source.slice(start, i), literal: undefined };
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
        if (/^\(\?<?[=!]/.test(source.slice(i))) {
          lookaround = true;
          i += source[i + 2] === '<' ? 4 : 3;
        } else if (source[i + 1] === '?') {
          // (?:...), (?<name>...) and modifier groups such as (?i:...)
          const prefix = /^\(\?(?:<[^>]*>|[a-zA-Z-]*:)/.exec(source.slice(i));
          if (!prefix) throw new Refused('it has a group this check cannot read');
          i += prefix[0].length;
        } else {
          i++;
        }
        const inner = alternatives();
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
      sequence.push({ kind: 'char', source: c, literal: SYNTAX.has(c) ? undefined : c });
      i++;
    }
    return result;
  };

  const top = alternatives();
  if (i < source.length) throw new Refused('it has an unbalanced parenthesis');
  return top;
}

/** Characters tried when asking whether two atoms can match the same character. */
const SAMPLES: string[] = (() => {
  const samples: string[] = [];
  for (let code = 0; code < 0x250; code++) samples.push(String.fromCodePoint(code));
  // Unicode case foldings (ſ, K, Å, ẞ, Ω), spaces and separators, digits, letters and symbols
  // of other scripts, a combining mark, an emoji, a lone surrogate.
  for (const code of [
    0x17f, 0x212a, 0x212b, 0x1e9e, 0x2126, 0x130, 0x131, 0x1680, 0x2000, 0x2007, 0x200a, 0x200b,
    0x200d, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff, 0x0301, 0x0370, 0x03b1, 0x03c9, 0x0391,
    0x0410, 0x044f, 0x05d0, 0x0627, 0x0660, 0x0966, 0x0905, 0x0e01, 0x10a0, 0x1100, 0x3042, 0x30a2,
    0x4e00, 0x4e2d, 0x9fa5, 0xac00, 0xff10, 0xff21, 0xff41, 0xfffd, 0x1f600, 0x1d400, 0xd800,
  ]) {
    samples.push(String.fromCodePoint(code));
  }
  return samples;
})();

/** Answers whether atoms can match a character, with the pattern's own flags. */
class CharSets {
  private readonly flags: string;
  private readonly tests = new Map<string, RegExp | undefined>();

  constructor(flags: string) {
    // Without `g`/`y`, `test()` keeps no state; `i`, `s`, `u`, `v` change what an atom matches.
    this.flags = flags.replace(/[gyd]/g, '');
  }

  private matches(source: string, char: string): boolean {
    let test = this.tests.get(source);
    if (!this.tests.has(source)) {
      try {
        test = new RegExp(`^(?:${source})$`, this.flags);
      } catch {
        test = undefined;
      }
      this.tests.set(source, test);
    }
    // An atom that does not compile on its own is assumed to match anything.
    return test ? test.test(char) : true;
  }

  /**
   * Whether some character matches both atoms. Tried: a fixed sample, and every character the
   * two atoms name (range ends included), its neighbours and its case forms, so two ranges that
   * overlap always share a tried character.
   */
  overlap(a: CharNode, b: CharNode): boolean {
    if (a.literal !== undefined && b.literal !== undefined && !this.flags.includes('i')) {
      return a.literal === b.literal;
    }
    for (const char of this.candidates(a.source + b.source)) {
      if (this.matches(a.source, char) && this.matches(b.source, char)) return true;
    }
    return false;
  }

  private candidates(text: string): Set<string> {
    const named = new Set<number>();
    for (const char of text) named.add(char.codePointAt(0) as number);
    for (const match of text.matchAll(
      /\\u\{([0-9a-fA-F]+)\}|\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})/g,
    )) {
      named.add(Number.parseInt(match[1] ?? match[2] ?? match[3] ?? '0', 16));
    }
    const out = new Set<string>(SAMPLES);
    for (const code of named) {
      for (const near of [code - 1, code, code + 1]) {
        if (near < 0 || near > 0x10ffff) continue;
        const char = String.fromCodePoint(near);
        out.add(char);
        out.add(char.toLowerCase());
        out.add(char.toUpperCase());
      }
    }
    return out;
  }
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

function alternativesRisk(body: Node, sets: CharSets): string | undefined {
  if (body.kind !== 'group' || body.lookaround || body.alternatives.length < 2) return undefined;
  const seen: CharNode[] = [];
  for (const alternative of body.alternatives) {
    const first = alternative[0];
    if (first?.kind !== 'char' || first.literal === undefined) {
      return 'a repeated group has alternatives that do not each start with a distinct literal character';
    }
    if (seen.some((other) => sets.overlap(other, first)))
      return 'a repeated group has alternatives that start with the same character';
    seen.push(first);
  }
  return undefined;
}

function nestedRisk(body: Node, sets: CharSets): string | undefined {
  const inner = innerLoops(body).flatMap((loop) => charsOf(loop.node));
  if (inner.length === 0) return undefined;
  // Each pass of the outer repetition must consume one character that nothing repeated inside
  // can match; then there is one way to split the input, and matching stays linear.
  const free = (char: CharNode) => inner.every((other) => !sets.overlap(char, other));
  const anchored =
    body.kind === 'group' && !body.lookaround && body.alternatives.length > 1
      ? body.alternatives.every((alternative) => {
          const first = alternative[0];
          return first?.kind === 'char' && free(first);
        })
      : flatten(body).some((part) => part.kind === 'char' && free(part));
  return anchored
    ? undefined
    : 'a repeated group repeats something inside it with no separator it cannot match (nested quantifiers)';
}

/**
 * Inside a repetition, two different atoms that can come next must not match the same
 * character: `(a?a)+` and `([a-z]+A)+` with the `i` flag can split `aaaa…` in exponentially many
 * ways. The next atom after the last one of a pass is the first of the next pass.
 */
function ambiguityRisk(loop: RepeatNode, automaton: Automaton, sets: CharSets): string | undefined {
  const inside = new Set(charsOf(loop.node));
  const choices = [automaton.info(loop.node).first];
  for (const char of inside) choices.push([...(automaton.follow.get(char) ?? [])]);
  for (const choice of choices) {
    const next = choice.filter((char) => inside.has(char));
    for (let a = 0; a < next.length; a++) {
      for (let b = a + 1; b < next.length; b++) {
        const [x, y] = [next[a] as CharNode, next[b] as CharNode];
        if (x !== y && sets.overlap(x, y)) {
          return `inside a repeated group, ${x.source} and ${y.source} can both match the next character (overlapping optional or repeated parts)`;
        }
      }
    }
  }
  return undefined;
}

/**
 * Why `source` may take exponential time on a short input, or `undefined`. A heuristic: it
 * refuses some safe patterns, and a linear-time engine such as RE2 is the only guarantee.
 * `flags` are the pattern's own (ajv compiles schema patterns with `u`); `i` makes `A` and `a`
 * the same character. Refused, for every repetition that can go round more than once:
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
  const sets = new CharSets(/\(\?[a-z-]*i[a-z-]*:/.test(source) ? `${flags}i` : flags);
  const automaton = new Automaton();
  automaton.info({ kind: 'group', alternatives: tree, lookaround: false });
  for (const loop of automaton.loops) {
    if (automaton.info(loop.node).nullable) {
      return 'a repeated group can match the empty string, so each pass can match in more than one way';
    }
    const risk =
      alternativesRisk(loop.node, sets) ??
      nestedRisk(loop.node, sets) ??
      ambiguityRisk(loop, automaton, sets);
    if (risk) return risk;
  }
  return undefined;
}
