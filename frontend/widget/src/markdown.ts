/**
 * A small Markdown renderer that builds DOM nodes and never parses HTML: model output and
 * document text can only ever become text nodes, and links keep only http(s) and mailto URLs.
 */

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

export function safeUrl(raw: string): string | null {
  const trimmed = raw.trim();
  if (!trimmed) return null;
  let url: URL;
  try {
    url = new URL(trimmed); // relative or malformed: not a link
  } catch {
    return null;
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

type Inline = { re: RegExp; build: (m: RegExpExecArray, doc: Document) => Node };

const INLINE: Inline[] = [
  {
    re: /`([^`\n]+)`/,
    build: (m, doc) => el(doc, "code", [doc.createTextNode(m[1] ?? "")]),
  },
  {
    re: /\[([^\]\n]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/,
    build: (m, doc) => link(doc, m[1] ?? "", m[2] ?? ""),
  },
  {
    re: /\*\*([^*\n]+)\*\*|__([^_\n]+)__/,
    build: (m, doc) => el(doc, "strong", inline(m[1] ?? m[2] ?? "", doc)),
  },
  {
    re: /\*([^*\n]+)\*|(?<![\w])_([^_\n]+)_(?![\w])/,
    build: (m, doc) => el(doc, "em", inline(m[1] ?? m[2] ?? "", doc)),
  },
  {
    re: /\[(\d{1,3})\]/,
    build: (m, doc) => {
      const sup = el(doc, "sup", [doc.createTextNode(`[${m[1]}]`)]);
      sup.className = "cite";
      return sup;
    },
  },
  {
    re: /\bhttps?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/,
    build: (m, doc) => link(doc, m[0], m[0], false),
  },
];

function el(doc: Document, tag: string, children: Node[]): HTMLElement {
  const node = doc.createElement(tag);
  for (const child of children) node.appendChild(child);
  return node;
}

function link(doc: Document, text: string, href: string, parseText = true): Node {
  const url = safeUrl(href);
  if (url === null) return doc.createTextNode(text); // unsafe target: the words, inert
  const a = el(doc, "a", parseText ? inline(text, doc) : [doc.createTextNode(text)]) as HTMLAnchorElement;
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  return a;
}

export function inline(text: string, doc: Document): Node[] {
  const out: Node[] = [];
  let rest = text;
  while (rest) {
    let best: { m: RegExpExecArray; rule: Inline } | null = null;
    for (const rule of INLINE) {
      const m = rule.re.exec(rest);
      if (m && (best === null || m.index < best.m.index)) best = { m, rule };
    }
    if (best === null) {
      out.push(doc.createTextNode(rest));
      break;
    }
    if (best.m.index > 0) out.push(doc.createTextNode(rest.slice(0, best.m.index)));
    out.push(best.rule.build(best.m, doc));
    rest = rest.slice(best.m.index + best.m[0].length);
  }
  return out;
}

const FENCE = /^\s*```/;
const HEADING = /^(#{1,6})\s+(.*)$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;

export function renderMarkdown(source: string, doc: Document = document): DocumentFragment {
  const root = doc.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    if (!line.trim()) {
      i++;
      continue;
    }
    if (FENCE.test(line)) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !FENCE.test(lines[i] ?? "")) body.push(lines[i++] ?? "");
      i++; // the closing fence (or the end while it still streams)
      root.appendChild(el(doc, "pre", [el(doc, "code", [doc.createTextNode(body.join("\n"))])]));
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const level = Math.min(6, (heading[1] ?? "#").length + 2); // h3..h6: small inside a chat bubble
      root.appendChild(el(doc, `h${level}`, inline(heading[2] ?? "", doc)));
      i++;
      continue;
    }
    for (const [pattern, tag] of [
      [BULLET, "ul"],
      [NUMBERED, "ol"],
    ] as const) {
      if (pattern.test(line)) {
        const list = doc.createElement(tag);
        while (i < lines.length && pattern.test(lines[i] ?? "")) {
          list.appendChild(el(doc, "li", inline(pattern.exec(lines[i] ?? "")?.[1] ?? "", doc)));
          i++;
        }
        root.appendChild(list);
      }
    }
    if (i < lines.length && (BULLET.test(lines[i] ?? "") || NUMBERED.test(lines[i] ?? ""))) continue;
    if (QUOTE.test(lines[i] ?? "")) {
      const quoted: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i] ?? "")) quoted.push(QUOTE.exec(lines[i++] ?? "")?.[1] ?? "");
      root.appendChild(el(doc, "blockquote", [renderMarkdown(quoted.join("\n"), doc)]));
      continue;
    }
    const paragraph: string[] = [];
    while (i < lines.length) {
      const next = lines[i] ?? "";
      if (!next.trim() || FENCE.test(next) || HEADING.test(next) || BULLET.test(next) || NUMBERED.test(next)) break;
      if (QUOTE.test(next)) break;
      paragraph.push(next);
      i++;
    }
    if (paragraph.length) {
      const p = doc.createElement("p");
      paragraph.forEach((text, index) => {
        if (index) p.appendChild(doc.createElement("br"));
        for (const node of inline(text, doc)) p.appendChild(node);
      });
      root.appendChild(p);
    }
  }
  return root;
}
