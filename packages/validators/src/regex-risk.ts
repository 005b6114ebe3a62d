// Finds the regular-expression shapes that backtrack exponentially, which maxLength cannot bound.

interface Element {
  /** Source text of the atom (a character, escape, class or group). */
  source: string;
  /** The single literal character this atom matches, when it is one. */
  literal: string | undefined;
  quantified: boolean;
  repeating: boolean;
}

interface Group {
  start: number;
  elements: Element[];
  /** Sources of atoms repeated anywhere inside the group, nested groups included. */
  repeated: string[];
  /** First element of each alternative, when the group has `|`. */
  firsts: (Element | undefined)[];
  alternation: boolean;
}

const SYNTAX = new Set(['.', '^', '$', '|', '(', ')', '[', ']', '{', '}', '*', '+', '?']);

function newGroup(start: number): Group {
  return { start, elements: [], repeated: [], firsts: [], alternation: false };
}

function canStartWith(source: string, char: string): boolean {
  try {
    return new RegExp(`^(?:${source})`, 'u').test(char);
  } catch {
    return true;
  }
}

/** The length of the escape at `i` (a backslash sequence), or -1 for a backreference. */
function escapeLength(source: string, i: number): number {
  const next = source[i + 1] ?? '';
  if (/[1-9]/.test(next) || next === 'k') return -1;
  if (next === 'u' && source[i + 2] === '{') return source.indexOf('}', i) - i + 1;
  if (next === 'u') return 6;
  if (next === 'x') return 4;
  if (next === 'c') return 3;
  if ((next === 'p' || next === 'P') && source[i + 2] === '{')
    return source.indexOf('}', i) - i + 1;
  return 2;
}

function classLength(source: string, i: number): number {
  let j = i + 1;
  if (source[j] === '^') j++;
  if (source[j] === ']') j++;
  while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
  return j - i + 1;
}

/**
 * Why `source` may take exponential time on a short input, or `undefined`. Refused: a repeated
 * group that itself repeats something, unless every pass must consume a literal character none
 * of its repeated parts can match (`(a+)+`, `(\w+\s?)*`, `(.+\.)+` are refused;
 * `(\d+\.){3}` and `[a-z]+(-[a-z]+)*` are fine), a repeated group whose alternatives do not
 * start with distinct literal characters (`(a|a)*`, `(\w|_)+`), and backreferences.
 */
export function regexRisk(source: string): string | undefined {
  const stack: Group[] = [newGroup(0)];
  let last: Element | undefined;
  let lastGroup: Group | undefined;
  let i = 0;
  const current = () => stack[stack.length - 1] as Group;
  const push = (element: Element, group?: Group) => {
    const top = current();
    if (top.alternation && top.firsts.length === 0) top.firsts.push(undefined);
    if (top.elements.length === 0 || top.firsts[top.firsts.length - 1] === undefined) {
      if (top.firsts.length === 0) top.firsts.push(element);
      else top.firsts[top.firsts.length - 1] ??= element;
    }
    top.elements.push(element);
    last = element;
    lastGroup = group;
  };
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '\\') {
      const length = escapeLength(source, i);
      if (length < 0) return 'it uses a backreference';
      const text = source.slice(i, i + length);
      const next = text[1] ?? '';
      const literal = length === 2 && !/[a-zA-Z0-9]/.test(next) ? next : undefined;
      push({ source: text, literal, quantified: false, repeating: false });
      i += length;
      continue;
    }
    if (c === '[') {
      const length = classLength(source, i);
      push({
        source: source.slice(i, i + length),
        literal: undefined,
        quantified: false,
        repeating: false,
      });
      i += length;
      continue;
    }
    if (c === '(') {
      let skip = 1;
      if (source.startsWith('(?:', i) || source.startsWith('(?=', i) || source.startsWith('(?!', i))
        skip = 3;
      else if (source.startsWith('(?<=', i) || source.startsWith('(?<!', i)) skip = 4;
      else if (source.startsWith('(?<', i)) skip = source.indexOf('>', i) - i + 1;
      stack.push(newGroup(i + skip));
      last = undefined;
      i += skip;
      continue;
    }
    if (c === ')') {
      const group = stack.pop();
      if (!group || stack.length === 0) return 'it has an unbalanced parenthesis';
      const parent = current();
      parent.repeated.push(...group.repeated);
      push(
        {
          source: source.slice(group.start, i),
          literal: undefined,
          quantified: false,
          repeating: false,
        },
        group,
      );
      i++;
      continue;
    }
    if (c === '|') {
      const top = current();
      if (!top.alternation) {
        top.alternation = true;
        if (top.firsts.length === 0) top.firsts.push(undefined);
      }
      top.firsts.push(undefined);
      top.elements = [];
      last = undefined;
      lastGroup = undefined;
      i++;
      continue;
    }
    if (
      c === '*' ||
      c === '+' ||
      c === '?' ||
      (c === '{' && /^\{\d+(,\d*)?\}/.test(source.slice(i)))
    ) {
      let repeating = c !== '?';
      let length = 1;
      if (c === '{') {
        const match = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i)) as RegExpExecArray;
        length = match[0].length;
        const min = Number(match[1]);
        const max =
          match[2] === undefined
            ? min
            : match[3] === ''
              ? Number.POSITIVE_INFINITY
              : Number(match[3]);
        repeating = max > 1;
      }
      if (source[i + length] === '?') length++;
      if (last) {
        last.quantified = true;
        last.repeating = repeating;
        if (repeating) {
          const group = lastGroup;
          if (group) {
            const risk = repeatedGroupRisk(group);
            if (risk) return risk;
          }
          current().repeated.push(last.source);
        }
      }
      i += length;
      continue;
    }
    push({
      source: c,
      literal: SYNTAX.has(c) ? undefined : c,
      quantified: false,
      repeating: false,
    });
    i++;
  }
  return stack.length === 1 ? undefined : 'it has an unbalanced parenthesis';
}

function repeatedGroupRisk(group: Group): string | undefined {
  if (group.alternation) {
    const seen: string[] = [];
    for (const first of group.firsts) {
      if (!first || first.literal === undefined || first.quantified) {
        return 'a repeated group has alternatives that do not each start with a distinct literal character';
      }
      if (seen.includes(first.literal))
        return 'a repeated group has alternatives that start with the same character';
      seen.push(first.literal);
    }
  }
  if (group.repeated.length > 0) {
    // Each pass of the outer repetition must consume one literal that nothing repeated inside
    // can match; then there is one way to split the input, and matching stays linear.
    const mandatory = group.alternation
      ? [...new Set(group.firsts.map((first) => first?.literal as string))]
      : group.elements
          .filter((e) => !e.quantified && e.literal !== undefined)
          .map((e) => e.literal as string);
    const anchor = group.alternation
      ? mandatory.every((literal) => group.repeated.every((inner) => !canStartWith(inner, literal)))
      : mandatory.some((literal) => group.repeated.every((inner) => !canStartWith(inner, literal)));
    if (!anchor) {
      return 'a repeated group repeats something inside it with no separator it cannot match (nested quantifiers)';
    }
  }
  return undefined;
}
