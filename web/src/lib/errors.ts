// The server's error sentences as a user reads them: no field-path prefixes ("params: ",
// "files: ", "invalid parameters: "), parameter names in words, no raw ids, one sentence per
// problem. The server's wording stays; only its machine parts go.

const ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** "document <id> (guide.md)" -> "guide.md"; "document <id>" -> "the document". */
const NAMED_ID = new RegExp(`\\b(?:document|collection|operation|chunk|file) ['"]?${ID}['"]? \\(([^)]*)\\)`, "gi");
const KIND_ID = new RegExp(`\\b(document|collection|operation|chunk|file) ['"]?${ID}['"]?`, "gi");
const BARE_ID = new RegExp(`['"]?\\b${ID}\\b['"]?`, "gi");

/** Where the value was (the request's parts): dropped, the sentence says what. */
const CONTAINERS = new Set(["params", "body", "query", "path", "files", "file", "text", "config", "configs", "document_ids"]);
/** A leading field path: `params: `, `files.0: `, `configs[1].params.chunk_size: `. */
const FIELD_PREFIX = /^([a-z_]+(?:\[\d+\]|\.\d+|\.[a-z_]+)*): /;
const CONFIG_PREFIX = /^configs[[.](\d+)\]?(?: \(([\w-]+)\))?: /;

/** snake_case names as words ("chunk_overlap" -> "chunk overlap"). */
const SNAKE = /(?<![\w./:'"-])([a-z]+(?:_[a-z0-9]+)+)(?![\w./'"-])/g;

function words(name: string): string {
  return name.replace(/_/g, " ");
}

function stripPrefixes(part: string): { text: string; config: string | null } {
  let text = part.trim();
  let config: string | null = null;
  for (let guard = 0; guard < 8; guard++) {
    const conf = CONFIG_PREFIX.exec(text);
    if (conf) {
      config = `Configuration ${Number(conf[1]) + 1}${conf[2] ? ` (${conf[2]})` : ""}`;
      text = text.slice(conf[0].length);
      continue;
    }
    if (/^invalid parameters: /i.test(text)) {
      text = text.slice("invalid parameters: ".length);
      continue;
    }
    const field = FIELD_PREFIX.exec(text);
    if (field && text.length > field[0].length) {
      const path = field[1]!.split(/[.[\]]+/).filter((p) => p && !/^\d+$/.test(p));
      const leaf = path.reverse().find((p) => !CONTAINERS.has(p));
      text = text.slice(field[0].length);
      if (leaf) {
        // "chunk_size: Input should be at most 8192" -> "chunk size should be at most 8192".
        text = /^input\b/i.test(text) ? text.replace(/^input\b/i, words(leaf)) : `${words(leaf)}: ${text}`;
        break;
      }
      continue;
    }
    break;
  }
  return { text, config };
}

function sentence(text: string): string {
  const out = text.trim().replace(/\s+/g, " ");
  if (!out) return out;
  const capital = out[0]!.toUpperCase() + out.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

/** A server `detail` (or any error text) as the sentence to show. */
export function humanizeError(detail: string): string {
  const cleaned = detail.replace(NAMED_ID, "$1").replace(KIND_ID, "the $1").replace(BARE_ID, "it");
  const out: string[] = [];
  let lastConfig: string | null = null;
  // Several problems are joined by "; ": each loses its field path, the sentence keeps them.
  for (const part of cleaned.split(/;\s+/)) {
    const { text, config } = stripPrefixes(part);
    let body = text.replace(SNAKE, words).trim();
    if (config && config !== lastConfig) body = `${config}: ${body}`;
    lastConfig = config ?? lastConfig;
    if (body) out.push(body);
  }
  return sentence(out.join("; "));
}
