// Checks the Markdown docs: every TypeScript and CommonJS block type-checks against the built
// packages, and every relative link (to a test file, a package README, a heading), and every link
// to the repository on GitHub (as npm readers and .d.ts doc comments need), points at something
// real.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');

interface Block {
  file: string; // relative to the repository root
  line: number; // 1-based line of the first line of code
  lang: string;
  flags: string[];
  code: string;
}

interface Link {
  file: string;
  line: number;
  target: string;
  /** The link as written, when `target` is the repository-relative link it stands for. */
  written?: string;
}

function markdownFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) found.push(path);
    }
  };
  walk(join(root, 'docs'));
  for (const dir of readdirSync(join(root, 'packages'))) {
    const readme = join(root, 'packages', dir, 'README.md');
    if (existsSync(readme)) found.push(readme);
  }
  for (const readme of [join(root, 'README.md'), join(root, 'examples', 'iot-app', 'README.md')]) {
    if (existsSync(readme)) found.push(readme);
  }
  return found.map((path) => relative(root, path)).sort();
}

/** Splits a Markdown file into fenced code blocks and the prose lines outside them. */
function parseMarkdown(file: string): { blocks: Block[]; prose: { line: number; text: string }[] } {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  const prose: { line: number; text: string }[] = [];
  let open: {
    fence: string;
    indent: number;
    info: string[];
    start: number;
    body: string[];
  } | null = null;
  lines.forEach((text, index) => {
    if (open) {
      const close = text.match(/^(\s*)(`{3,}|~{3,})\s*$/);
      if (close?.[2]?.startsWith(open.fence)) {
        const [lang = '', ...flags] = open.info;
        blocks.push({ file, line: open.start + 1, lang, flags, code: open.body.join('\n') });
        open = null;
      } else {
        open.body.push(text.slice(Math.min(open.indent, text.length - text.trimStart().length)));
      }
      return;
    }
    const fence = text.match(/^(\s*)(`{3,}|~{3,})(.*)$/);
    if (fence) {
      open = {
        fence: fence[2] ?? '```',
        indent: fence[1]?.length ?? 0,
        info: (fence[3] ?? '').trim().split(/\s+/).filter(Boolean),
        start: index + 1,
        body: [],
      };
      return;
    }
    prose.push({ line: index + 1, text });
  });
  return { blocks, prose };
}

function linksOf(file: string, prose: { line: number; text: string }[]): Link[] {
  const links: Link[] = [];
  for (const { line, text } of prose) {
    const withoutCode = text.replace(/`+[^`]*`+/g, '');
    for (const match of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ file, line, target: match[1] ?? '' });
    }
    const definition = withoutCode.match(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/);
    if (definition?.[1]) links.push({ file, line, target: definition[1] });
  }
  return links;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of parseMarkdown(file).prose) {
    const heading = text.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (!heading?.[1]) continue;
    const plain = heading[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .toLowerCase();
    const slug = plain
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .trim()
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

const files = markdownFiles();
const parsed = new Map(files.map((file) => [file, parseMarkdown(file)]));

const isPackageReadme = (file: string) =>
  /^packages\/[^/]+\/README\.md$/.test(file.split(sep).join('/'));
/** Where code blocks are type-checked: the guides in docs/ and each package's README. */
const checksCodeOf = (file: string) =>
  file.split(sep).join('/').startsWith('docs/') || isPackageReadme(file);

const isTypeScript = (block: Block) => block.lang === 'ts' || block.lang === 'typescript';
const isJavaScript = (block: Block) => block.lang === 'js' || block.lang === 'javascript';

describe('code blocks in docs/ and the package READMEs', () => {
  const blocks = [...parsed.values()]
    .flatMap((doc) => doc.blocks)
    .filter((block) => checksCodeOf(block.file))
    .filter((block) => isTypeScript(block) || isJavaScript(block));
  const checked = blocks.filter((block) => !block.flags.includes('fragment'));
  const readmes = files.filter(isPackageReadme);
  let work = '';

  beforeAll(() => {
    const packages = readdirSync(join(root, 'packages'));
    const unbuilt = packages.filter((dir) => !existsSync(join(root, 'packages', dir, 'dist')));
    if (unbuilt.length > 0) {
      throw new Error(`not built: ${unbuilt.join(', ')}. Run \`pnpm build\` first.`);
    }
    // A throwaway project inside the repository whose node_modules links each @bulwark package
    // to its workspace folder (so its exports map leads to the built dist/ types) and each
    // third-party dependency to the copy the workspace already installed.
    const cache = join(root, 'node_modules', '.cache', 'bulwark-docs');
    mkdirSync(cache, { recursive: true });
    work = mkdtempSync(join(cache, 'run-'));
    const modules = join(work, 'node_modules');
    mkdirSync(join(modules, '@bulwark'), { recursive: true });
    const link = (target: string, name: string) => {
      const path = join(modules, name);
      if (existsSync(path)) return;
      mkdirSync(dirname(path), { recursive: true });
      symlinkSync(target, path, 'dir');
    };
    for (const dir of packages) {
      const { name } = JSON.parse(
        readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'),
      );
      link(join(root, 'packages', dir), name);
    }
    link(join(root, 'node_modules', '@types', 'node'), '@types/node');
    const sources = [
      join(root, 'examples', 'iot-app', 'node_modules'),
      ...packages.map((dir) => join(root, 'packages', dir, 'node_modules')),
    ];
    for (const source of sources.filter((dir) => existsSync(dir))) {
      for (const entry of readdirSync(source)) {
        if (entry.startsWith('.')) continue;
        if (entry.startsWith('@')) {
          for (const scoped of readdirSync(join(source, entry))) {
            link(join(source, entry, scoped), `${entry}/${scoped}`);
          }
        } else {
          link(join(source, entry), entry);
        }
      }
    }
    writeFileSync(join(work, 'package.json'), '{ "type": "module", "private": true }\n');
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('finds the TypeScript examples of the guides', () => {
    const guides = new Set(
      checked.filter(isTypeScript).map((block) => block.file.replaceAll(sep, '/')),
    );
    expect(guides).toContain('docs/getting-started.md');
    expect(guides).toContain('docs/hardening-guide.md');
    expect(guides).toContain('docs/operations.md');
  });

  it('finds a checked TypeScript and a CommonJS example in every package README', () => {
    expect(readmes).toHaveLength(readdirSync(join(root, 'packages')).length);
    const missing = readmes.flatMap((file) => {
      const own = checked.filter((block) => block.file === file);
      return [
        ...(own.some(isTypeScript) ? [] : [`${file}: no TypeScript example`]),
        ...(own.some((block) => isJavaScript(block) && /^\/\/ app\.cjs\n/.test(block.code))
          ? []
          : [`${file}: no \`// app.cjs\` example`]),
      ];
    });
    expect(missing).toEqual([]);
  });

  /**
   * Writes the blocks into the throwaway project as one file each and type-checks them as one
   * program, with the repository's strict settings as a user's `strict` project would compile
   * the examples: without exactOptionalPropertyTypes, so `{ url: process.env.URL }` reads as
   * users write it, and without declaration output, which an app never emits. Problems point at
   * the Markdown line.
   */
  function typeCheck(
    blocks: Block[],
    file: (block: Block, index: number) => { name: string; text: string },
    overrides: ts.CompilerOptions,
  ): string[] {
    const sourceFor = new Map<string, Block>();
    blocks.forEach((block, index) => {
      const { name, text } = file(block, index);
      const path = join(work, name);
      writeFileSync(path, text);
      sourceFor.set(path, block);
    });
    const base = ts.readConfigFile(join(root, 'tsconfig.base.json'), ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(base.config, ts.sys, work);
    const program = ts.createProgram([...sourceFor.keys()], {
      ...options,
      exactOptionalPropertyTypes: false,
      declaration: false,
      noEmit: true,
      typeRoots: [join(work, 'node_modules', '@types')],
      ...overrides,
    });
    return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      const block = diagnostic.file ? sourceFor.get(resolve(diagnostic.file.fileName)) : undefined;
      if (!diagnostic.file || diagnostic.start === undefined || !block) {
        return `${diagnostic.file?.fileName ?? 'compiler'}: ${message}`;
      }
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      return `${block.file}:${block.line + line}: TS${diagnostic.code} ${message}`;
    });
  }

  it('type-checks every ts block against the packages, as one program', () => {
    const problems = typeCheck(
      checked.filter(isTypeScript),
      // `export {}` keeps each block a module of its own, so blocks never share top-level names.
      (block, index) => ({ name: `block-${index}.ts`, text: `${block.code}\nexport {};\n` }),
      {},
    );
    expect(problems).toEqual([]);
  });

  it('type-checks every js block as CommonJS against the packages, as one program', () => {
    const blocks = checked.filter(isJavaScript);
    // TypeScript lets an `import` statement through in a .cjs file; Node.js refuses it.
    const esm = blocks.flatMap((block) =>
      block.code.split('\n').flatMap((text, line) => {
        const statement = text.match(/^\s*(import|export)\b(?!\s*\()/)?.[1];
        return statement
          ? [`${block.file}:${block.line + line}: ${statement} in a CommonJS block`]
          : [];
      }),
    );
    const problems = typeCheck(
      blocks,
      // `.cjs` gives a block CommonJS semantics whatever the project's package type: `require`
      // resolves through each package's `require` condition to its CommonJS build and types, and
      // a top-level `await` is an error, as it is in Node.js.
      (block, index) => ({ name: `block-${index}.cjs`, text: `${block.code}\n` }),
      {
        allowJs: true,
        checkJs: true,
        // Each file a module of its own, as Node.js runs it, so blocks never share top-level names.
        moduleDetection: ts.ModuleDetectionKind.Force,
        // A CommonJS user's own functions have no types to give; everything the packages take
        // and return is still checked, null and undefined included.
        noImplicitAny: false,
      },
    );
    expect([...esm, ...problems]).toEqual([]);
  });
});

/** The repository's address on GitHub, from each package's `repository.url`. */
const repositoryUrls = new Set(
  readdirSync(join(root, 'packages')).map((dir) => {
    const { repository } = JSON.parse(
      readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'),
    );
    return String(repository?.url ?? '')
      .replace(/^git\+/, '')
      .replace(/\.git$/, '');
  }),
);
const repositoryUrl = [...repositoryUrls][0] ?? '';
const escapedUrl = repositoryUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const onGitHub = new RegExp(`^${escapedUrl}/(?:blob|tree)/main/([^#?]*)(#.*)?$`);
const onGitHubInText = new RegExp(`${escapedUrl}/(?:blob|tree)/main/[^\\s'"\`)<>]*`, 'g');

/**
 * A link to `<repository>/blob/main/<path>#anchor` as the link relative to `link.file` it stands
 * for, so it is checked as one; undefined for any other absolute link.
 */
function inRepository(link: Link): Link | undefined {
  const match = onGitHub.exec(link.target);
  if (!match) return undefined;
  const path = relative(resolve(root, dirname(link.file)), resolve(root, match[1] ?? ''))
    .split(sep)
    .join('/');
  return { ...link, target: `${path === '' ? '.' : path}${match[2] ?? ''}`, written: link.target };
}

/** Links to the repository on GitHub in the packages' sources: their doc comments ship in .d.ts. */
function sourceLinks(): Link[] {
  const links: Link[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ts$/.test(entry.name)) {
        readFileSync(path, 'utf8')
          .split('\n')
          .forEach((text, index) => {
            for (const match of text.matchAll(onGitHubInText)) {
              // A sentence may end right after the address.
              const target = match[0].replace(/[.,;:]+$/, '');
              links.push({ file: relative(root, path), line: index + 1, target });
            }
          });
      }
    }
  };
  for (const dir of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', dir, 'src');
    if (existsSync(src)) walk(src);
  }
  return links;
}

const shown = (link: Link) => `${link.file}:${link.line}: ${link.written ?? link.target}`;

/** Links whose file is missing or outside the repository. */
function missingFiles(links: Link[]): string[] {
  return links
    .filter((link) => !link.target.startsWith('#'))
    .filter((link) => {
      const path = decodeURIComponent(link.target.split('#')[0] ?? '');
      const absolute = resolve(root, dirname(link.file), path);
      return !absolute.startsWith(root) || !existsSync(absolute);
    })
    .map(shown);
}

/** Links to a Markdown file whose heading anchor is not in it. */
function missingAnchors(links: Link[]): string[] {
  return links
    .filter((link) => link.target.includes('#'))
    .filter((link) => {
      const [path = '', anchor = ''] = link.target.split('#');
      const target =
        path === '' ? link.file : relative(root, resolve(root, dirname(link.file), path));
      if (!target.endsWith('.md') || !existsSync(join(root, target))) return false;
      return !anchorsOf(target).has(decodeURIComponent(anchor).toLowerCase());
    })
    .map(shown);
}

describe('links in docs/ and the READMEs', () => {
  const links = [...parsed.entries()].flatMap(([file, doc]) => linksOf(file, doc.prose));
  const relativeLinks = links.filter(
    (link) => !/^[a-z][a-z0-9+.-]*:/i.test(link.target) && !link.target.startsWith('//'),
  );
  const repositoryLinks = [...links, ...sourceLinks()].flatMap((link) => {
    const local = inRepository(link);
    return local ? [local] : [];
  });
  const checked = [...relativeLinks, ...repositoryLinks];

  it('finds links to test files in the hardening guide', () => {
    const guide = join('docs', 'hardening-guide.md');
    const tests = relativeLinks.filter(
      (link) => link.file === guide && /\.test\.ts(#|$)/.test(link.target),
    );
    expect(tests.length).toBeGreaterThan(50);
  });

  it('reads one GitHub repository from the repository field of every package.json', () => {
    expect([...repositoryUrls]).toEqual(['https://github.com/bulwark-js/bulwark']);
  });

  it('finds the links to the error pages on GitHub in the package READMEs and in the sources', () => {
    const errorPages = repositoryLinks.filter((link) => /docs\/errors\//.test(link.target));
    expect(errorPages.some((link) => isPackageReadme(link.file))).toBe(true);
    expect(errorPages.some((link) => /^packages\/[^/]+\/src\//.test(link.file))).toBe(true);
  });

  it('checks a link to the repository on GitHub like a relative one: its file and its anchor must exist', () => {
    const file = join('packages', 'db-safety', 'README.md');
    const at = (target: string): Link => {
      const local = inRepository({ file, line: 1, target });
      expect(local, target).toBeDefined();
      return local as Link;
    };
    const page = `${repositoryUrl}/blob/main/docs/errors/db-safety.md`;
    const good = [
      at(page),
      at(`${page}#err_bulwark_db_ssl_unavailable`),
      at(`${repositoryUrl}/blob/main/packages/db-safety/README.md#options`),
      at(`${repositoryUrl}/tree/main/docs`),
    ];
    expect(missingFiles(good)).toEqual([]);
    expect(missingAnchors(good)).toEqual([]);
    const gone = at(`${repositoryUrl}/blob/main/docs/errors/db-safty.md`);
    const wrongAnchor = at(`${page}#err_bulwark_db_no_such_code`);
    const outside = at(`${repositoryUrl}/blob/main/../README.md`);
    expect(missingFiles([gone, wrongAnchor, outside])).toEqual([
      `${file}:1: ${gone.written}`,
      `${file}:1: ${outside.written}`,
    ]);
    expect(missingAnchors([gone, wrongAnchor])).toEqual([`${file}:1: ${wrongAnchor.written}`]);
    expect(inRepository({ file, line: 1, target: 'https://github.com/jshttp/http-errors' })).toBe(
      undefined,
    );
  });

  it('resolves every relative link, and every link to the repository on GitHub, to an existing file inside the repository', () => {
    expect(missingFiles(checked)).toEqual([]);
  });

  it('quotes only test names that exist in the linked test file', () => {
    const missing: string[] = [];
    for (const [file, doc] of parsed) {
      // Prose joined into one line, so a quoted name may wrap across lines as Markdown allows.
      const text = doc.prose
        .map((line) => line.text)
        .join(' ')
        .replace(/\s+/g, ' ');
      const cited = /\]\(([^)\s]+\.test\.ts)\)((?:(?:,| and)? "[^"]+")+)/g;
      for (const match of text.matchAll(cited)) {
        const path = resolve(root, dirname(file), match[1] ?? '');
        if (!existsSync(path)) continue; // reported by the link check
        const source = readFileSync(path, 'utf8').replace(/\s+/g, ' ');
        for (const quoted of (match[2] ?? '').matchAll(/"([^"]+)"/g)) {
          // `…` stands for a part the test builds at run time, such as a parameter.
          const parts = (quoted[1] ?? '').split('…').filter(Boolean);
          let from = 0;
          const found = parts.every((part) => {
            const at = source.indexOf(part, from);
            from = at + part.length;
            return at >= 0;
          });
          if (!found) missing.push(`${file}: ${match[1]} "${quoted[1]}"`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('resolves every heading anchor of a relative link, and of a link to the repository on GitHub, to a Markdown file', () => {
    expect(missingAnchors(checked)).toEqual([]);
  });
});
