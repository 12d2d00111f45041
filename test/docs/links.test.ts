// Every in-repository link of the documentation resolves: README.md, docs/*.md,
// assembly/README.md, harness/**/README.md and envoy/*.md. A link names an existing file or
// directory (relative to the page), and a `#anchor` names a heading of the target page as GitHub
// makes heading ids: lowercase, punctuation dropped except `-` and `_`, spaces → `-`, a repeated
// id gets `-1`, `-2`, … External links (http:, https:, mailto:) are not fetched.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(new URL("../../", import.meta.url).pathname);

/** The documentation pages, relative to ROOT. */
function pages(): string[] {
  const out = ["README.md", "assembly/README.md"];
  for (const f of readdirSync(join(ROOT, "docs"))) if (f.endsWith(".md")) out.push(`docs/${f}`);
  for (const f of readdirSync(join(ROOT, "envoy"))) if (f.endsWith(".md")) out.push(`envoy/${f}`);
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== "node_modules") walk(`${dir}/${e.name}`);
      else if (e.name === "README.md") out.push(`${dir}/${e.name}`);
    }
  };
  walk("harness");
  return out;
}

/** The text outside fenced code blocks, each line kept (so line numbers stay right). */
function prose(text: string): string[] {
  let fence: string | null = null;
  return text.split("\n").map((line) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      if (fence === null) fence = m[1]!.slice(0, 3);
      else if (m[1]!.startsWith(fence)) fence = null;
      return "";
    }
    return fence === null ? line : "";
  });
}

/** GitHub's id for a heading's text. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1") // a link in a heading: its text
    .replace(/<[^>]*>/g, "") // inline HTML
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The ids of a page's headings. */
export function anchors(text: string): Set<string> {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  return ids;
}

/** Every link target of a page's prose (inline code removed: a link is never inside it), with its line. */
export function links(text: string): Array<{ line: number; target: string }> {
  const out: Array<{ line: number; target: string }> = [];
  prose(text).forEach((raw, i) => {
    const line = raw.replace(/`+[^`]*`+/g, "");
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1]! });
  });
  return out;
}

/** The broken links of the given pages (paths relative to root), as `page:line: target: why`. */
export function brokenLinks(root: string, files: string[], read: (path: string) => string | null): string[] {
  const problems: string[] = [];
  const idsOf = new Map<string, Set<string>>();
  const ids = (path: string) => {
    if (!idsOf.has(path)) idsOf.set(path, anchors(read(path) ?? ""));
    return idsOf.get(path)!;
  };
  for (const file of files) {
    const text = read(file);
    if (text === null) { problems.push(`${file}: page missing`); continue; }
    for (const { line, target } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      const hash = target.indexOf("#");
      const pathPart = decodeURI(hash < 0 ? target : target.slice(0, hash));
      const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
      const to = pathPart === "" ? file : relative(root, resolve(root, dirname(file), pathPart));
      const where = `${file}:${line}: ${target}`;
      if (to.startsWith("..")) { problems.push(`${where}: outside the repository`); continue; }
      if (pathPart !== "" && read(to) === null && !existsSync(join(root, to))) { problems.push(`${where}: no such file`); continue; }
      if (anchor === null) continue;
      if (!to.endsWith(".md")) { problems.push(`${where}: an anchor into a file that is not Markdown`); continue; }
      if (!ids(to).has(anchor)) problems.push(`${where}: no heading with id "${anchor}" in ${to}`);
    }
  }
  return problems;
}

const readRepo = (path: string): string | null => {
  const full = join(ROOT, path);
  return existsSync(full) && statSync(full).isFile() ? readFileSync(full, "utf8") : null;
};

describe("the link checker", () => {
  it("makes GitHub's heading ids", () => {
    expect(slug("`providers[]` (required, 1–64 entries)")).toBe("providers-required-164-entries");
    expect(slug("`_rules_` (Higress)")).toBe("_rules_-higress");
    expect(slug("Slow first tokens (`firstByteTimeout`, `firstTokenTimeout`)")).toBe("slow-first-tokens-firstbytetimeout-firsttokentimeout");
    expect(slug("envoyproxy/ratelimit: minimum version, and the domain")).toBe("envoyproxyratelimit-minimum-version-and-the-domain");
    expect([...anchors("# A\n## A\n```\n# not a heading\n```\n### A b\n")]).toEqual(["a", "a-1", "a-b"]);
  });

  it("reports a missing file, a missing heading, and an anchor in a fenced or inline code span not at all", () => {
    const pages: Record<string, string> = {
      "README.md": "See [ok](docs/a.md#intro), [self](#top), [gone](docs/b.md), [bad](docs/a.md#nope), [web](https://example.com/#x).\n`[code](docs/none.md)`\n```\n[fenced](docs/none.md)\n```\n# Top\n",
      "docs/a.md": "# Intro\n[up](../README.md#top) [up-bad](../README.md#bottom)\n",
    };
    const read = (p: string) => pages[p] ?? null;
    expect(brokenLinks("/nonexistent-root", Object.keys(pages), read)).toEqual([
      "README.md:1: docs/b.md: no such file",
      'README.md:1: docs/a.md#nope: no heading with id "nope" in docs/a.md',
      'docs/a.md:2: ../README.md#bottom: no heading with id "bottom" in README.md',
    ]);
  });
});

describe("documentation links", () => {
  const files = pages();

  it("covers the README, every docs/ page, and the developer READMEs", () => {
    for (const f of ["README.md", "docs/configuration.md", "docs/request-handling.md", "docs/operations.md", "docs/cluster-limits.md",
      "docs/deploy-envoy.md", "docs/deploy-higress.md", "assembly/README.md", "harness/bench/README.md", "harness/replay/README.md", "envoy/README.md"]) {
      expect(files).toContain(f);
    }
    expect(files.reduce((n, f) => n + links(readRepo(f) ?? "").length, 0)).toBeGreaterThan(100);
  });

  it("every docs/ page is linked from the README", () => {
    const targets = new Set(links(readRepo("README.md")!).map((l) => l.target.split("#")[0]));
    expect(files.filter((f) => f.startsWith("docs/") && !targets.has(f))).toEqual([]);
  });

  it("every in-repository link and anchor resolves", () => {
    expect(brokenLinks(ROOT, files, readRepo)).toEqual([]);
  });
});
