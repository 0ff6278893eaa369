// End-to-end test of the web UI in headless Chromium (Debian's, driven by playwright-core)
// against a real Chunkyard server. tests/web/test_web_e2e.py starts the server on a temporary
// data directory and runs this file; to run it by hand against a server of your own:
//
//   E2E_BASE_URL=http://127.0.0.1:8000 E2E_USERNAME=alice E2E_PASSWORD=... node e2e/run.mjs
//
// Environment: E2E_BASE_URL, E2E_USERNAME, E2E_PASSWORD (required); E2E_ARTIFACTS (screenshots
// and measurements, default e2e/artifacts); CHROMIUM_PATH (default /usr/bin/chromium);
// E2E_PREVIEW_BUDGET_MS (default 300): the p95 from a parameter change to the new preview;
// E2E_LARGE_BUDGET_MS (default 30000): a 2 MB document's first preview (its target is 1.5 s).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const BASE = requiredEnv("E2E_BASE_URL").replace(/\/$/, "");
const USERNAME = requiredEnv("E2E_USERNAME");
const PASSWORD = requiredEnv("E2E_PASSWORD");
const ARTIFACTS = process.env.E2E_ARTIFACTS || join(here, "artifacts");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const PREVIEW_BUDGET_MS = Number(process.env.E2E_PREVIEW_BUDGET_MS || 300);
const LARGE_BUDGET_MS = Number(process.env.E2E_LARGE_BUDGET_MS || 30000);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
// The flags Debian's Chromium needs here: no sandbox as root, and no calls home (the network
// is closed, and refused connections would slow every start).
const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`e2e: set ${name} (see the top of e2e/run.mjs)`);
    process.exit(2);
  }
  return value;
}

// -- fixtures -------------------------------------------------------------------------------

const MARKDOWN = `# Chunkyard guide

Chunkyard turns documents into retrieval-ready chunks.

## Installing

Install the package and run the service. The web UI ships inside the package.

## Chunking

Every chunk keeps exact offsets into the extracted text, and no chunk is larger than the cap.

### Strategies

Character, recursive, markdown, semantic, hierarchical and hybrid.
`;

const TEXT = Array.from(
  { length: 30 },
  (_, k) => `Line ${k + 1}: plain text for the recursive strategy, with sentences of ordinary length.`,
).join("\n");

// Paragraphs two and three blank lines apart, and indented lines: whitespace between chunks
// that the views must show as it is in the document (not rebuilt from the chunks).
const SPACED = [
  "Spaced paragraphs",
  "",
  "",
  "The first paragraph ends here, before two blank lines.",
  "",
  "",
  "The second paragraph comes after two blank lines.",
  "",
  "",
  "",
  "    An indented line, after three blank lines.",
  "\tA line indented with a tab.",
  "",
  "",
  "The last paragraph.",
  "",
].join("\n");

// Every payload would run if any view rendered document text as HTML.
const XSS = `# Payloads <img src=x onerror="window.__xss='heading';alert('heading')">

<script>window.__xss = 'script'; alert('script')</script>

<img src="x" onerror="window.__xss='img';alert('img')">

<svg onload="window.__xss='svg'"><circle r="5"/></svg>

<iframe srcdoc="<script>parent.__xss='iframe'</script>"></iframe>

[a link](javascript:window.__xss='link')

"><details open ontoggle="window.__xss='details'">x</details>

<a href="javascript:alert('href')">click</a> {{constructor.constructor('window.__xss=1')()}}
`;
const XSS_NAME = `<img src=x onerror="window.__xss='name'">`;

// An answer after characters of two UTF-16 units each (an emoji, a musical symbol): its offsets
// are code points on the server, one less per such character than the page's string indices.
const ANSWERS = `# Answers 😀

A line before, with a clef 𝄞 in it.

The answer is forty-two. Nobody knows the question.

## Other matters

Tea is served at four, and the library closes at nine.
`;

function bigMarkdown(bytes) {
  const words = "chunk token offset boundary retrieval overlap embedding corpus heading sentence".split(" ");
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const parts = [];
  let size = 0;
  for (let section = 1; size < bytes; section++) {
    const block = [`## Section ${section}`, ""];
    for (let p = 0; p < 3; p++) {
      const sentence = () => {
        const n = 8 + Math.floor(rand() * 14);
        const ws = Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]);
        return ws.join(" ").replace(/^./, (c) => c.toUpperCase()) + ".";
      };
      block.push(Array.from({ length: 4 }, sentence).join(" "), "");
    }
    const text = block.join("\n");
    parts.push(text);
    size += text.length + 1;
  }
  return `# A fifty-kilobyte document\n\n${parts.join("\n")}`.slice(0, bytes);
}

function file(name, mimeType, content) {
  return { name, mimeType, buffer: Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8") };
}

// -- helpers --------------------------------------------------------------------------------

let browser;
let context;
let page;
let shotCount = 0;
const dialogs = [];
const cspViolations = [];
const pageErrors = [];
const measurements = {};
const state = {};

async function newPage(ctx) {
  const p = await ctx.newPage();
  p.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  p.on("console", (msg) => {
    const text = msg.text();
    if (/Content Security Policy/i.test(text)) cspViolations.push(text);
  });
  p.on("pageerror", (err) => pageErrors.push(err.message));
  return p;
}

async function shot(p, name) {
  shotCount++;
  const path = join(ARTIFACTS, `${String(shotCount).padStart(2, "0")}-${name}.png`);
  await p.screenshot({ path, fullPage: true });
}

/** axe-core on the page as it is: zero violations. (Evaluated, not added as a script tag:
 * the server's CSP refuses inline scripts, which is the point.) */
async function axe(p, screen) {
  // Both themes: the light one, then dark mode as prefers-color-scheme asks for it.
  for (const scheme of ["light", "dark"]) {
    await p.emulateMedia({ colorScheme: scheme });
    await axeOnce(p, scheme === "light" ? screen : `${screen} (dark)`);
  }
  await p.emulateMedia({ colorScheme: "light" });
}

/** The page at 390 px wide: nothing makes it scroll sideways (tables scroll in their own box). */
async function narrow(p, screen) {
  const before = p.viewportSize();
  await p.setViewportSize({ width: 390, height: 844 });
  await p.waitForTimeout(50);
  const widths = await p.evaluate(() => ({
    page: document.scrollingElement.scrollWidth,
    header: document.querySelector(".app-header")?.getBoundingClientRect().width ?? 390,
    // What sticks out, to say in the failure.
    wide: (() => {
      const name = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")}`;
      const out = [...document.querySelectorAll("body *")]
        .filter((el) => el.getBoundingClientRect().right > 390.5 && !el.closest(".table-scroll, .source-text"))
        .map((el) => `${name(el)} (${el.getBoundingClientRect().right.toFixed(1)} px)`);
      // Text that overflows its element.
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const range = document.createRange();
        range.selectNodeContents(node);
        const right = range.getBoundingClientRect().right;
        if (right > 390.5 && !node.parentElement.closest(".table-scroll, .source-text")) out.push(`text in ${name(node.parentElement)} (${right.toFixed(1)} px): ${node.textContent.slice(0, 40)}`);
      }
      // Still nothing named: find the element whose hiding brings the page back to 390 px.
      if (!out.length && document.scrollingElement.scrollWidth > 390) {
        let node = document.body;
        for (let depth = 0; depth < 30 && node; depth++) {
          let found = null;
          for (const child of node.children) {
            const before = child.style.display;
            child.style.display = "none";
            const fits = document.scrollingElement.scrollWidth <= 390;
            child.style.display = before;
            if (fits) {
              found = child;
              break;
            }
          }
          if (!found) break;
          out.push(`${name(found)} (${found.getBoundingClientRect().width.toFixed(1)} wide, scrollWidth ${found.scrollWidth})`);
          node = found;
        }
      }
      return out.slice(-8);
    })(),
  }));
  measurements.width_at_390 ??= {};
  measurements.width_at_390[screen] = widths.page;
  await shot(p, `narrow-${screen.replace(/\W+/g, "-")}`);
  if (before) await p.setViewportSize(before);
  assert.ok(widths.page <= 390, `the ${screen} screen is ${widths.page} px wide at 390 px: ${widths.wide.join(", ")}`);
  assert.ok(widths.header >= 389, `the header spans the ${screen} screen at 390 px (${widths.header} px)`);
}

async function axeOnce(p, screen) {
  await p.evaluate(() => document.fonts?.ready);
  const hasAxe = await p.evaluate(() => typeof window.axe !== "undefined");
  if (!hasAxe) await p.evaluate(AXE_SOURCE);
  const violations = await p.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
    }));
  });
  measurements.axe ??= {};
  measurements.axe[screen] = violations.length;
  assert.deepEqual(violations, [], `axe violations on the ${screen} screen:\n${JSON.stringify(violations, null, 2)}`);
}

async function assertNoScriptRan(p, where) {
  const flag = await p.evaluate(() => window.__xss);
  assert.equal(flag, undefined, `a payload ran on ${where}: window.__xss = ${flag}`);
  assert.deepEqual(dialogs, [], `a dialog opened on ${where}`);
}

async function signIn(p) {
  await p.waitForSelector("#login-username");
  await p.fill("#login-username", USERNAME);
  await p.fill("#login-password", PASSWORD);
  await p.click("button[type=submit]");
}

async function apiJson(p, method, path, data) {
  const response = await p.request.fetch(`${BASE}/api/v1${path}`, {
    method,
    data,
    headers: { Origin: BASE },
  });
  assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${await response.text()}`);
  return response.status() === 204 ? null : response.json();
}

async function uploadByApi(p, collectionId, files) {
  const form = new FormData();
  for (const f of files) form.append("files", new Blob([f.buffer], { type: f.mimeType }), f.name);
  const response = await p.request.post(`${BASE}/api/v1/collections/${collectionId}/documents`, {
    multipart: form,
    headers: { Origin: BASE },
  });
  assert.equal(response.status(), 201, await response.text());
  return (await response.json()).items;
}

async function waitOperation(p, id) {
  for (let k = 0; k < 600; k++) {
    const op = await apiJson(p, "GET", `/operations/${id}`);
    if (["completed", "failed", "cancelled"].includes(op.status)) return op;
    await p.waitForTimeout(100);
  }
  throw new Error(`operation ${id} did not finish`);
}

/** Record every value an attribute takes on matching elements (to see transports pass by). */
async function watchAttribute(p, selector, attribute) {
  await p.evaluate(
    ({ selector, attribute }) => {
      window.__seen = new Set();
      const record = () => {
        for (const el of document.querySelectorAll(selector)) window.__seen.add(el.getAttribute(attribute));
      };
      new MutationObserver(record).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: [attribute],
      });
      record();
    },
    { selector, attribute },
  );
}

async function seenValues(p) {
  return p.evaluate(() => [...window.__seen]);
}

function percentile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.max(0, Math.min(sorted.length - 1, rank))];
}

// -- the flow -------------------------------------------------------------------------------

describe("Chunkyard web UI", () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await newPage(context);
  });

  after(async () => {
    writeFileSync(join(ARTIFACTS, "measurements.json"), JSON.stringify(measurements, null, 2));
    await browser?.close();
  });

  it("sends a visitor to sign in and back to where they were going", async () => {
    await page.goto(`${BASE}/playground`);
    await page.waitForURL(/\/login\?next=%2Fplayground$/);
    const response = await page.request.get(`${BASE}/`);
    const csp = response.headers()["content-security-policy"];
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(response.headers()["x-content-type-options"], "nosniff");
    await axe(page, "sign-in");
    await narrow(page, "sign-in");
    await shot(page, "sign-in");

    await page.fill("#login-username", USERNAME);
    await page.fill("#login-password", "not the password");
    await page.click("button[type=submit]");
    await page.getByRole("alert").getByText("wrong username or password").waitFor();

    await signIn(page);
    await page.waitForURL(`${BASE}/playground`);
    await page.getByRole("heading", { name: "Playground" }).waitFor();
  });

  it("creates a collection with the default configuration", async () => {
    await page.getByRole("link", { name: "Collections" }).click();
    await page.getByRole("heading", { name: "Collections", level: 1 }).waitFor();
    await page.getByText("No collections yet").waitFor();
    await axe(page, "collections (empty)");
    await narrow(page, "collections (empty)");
    // The default configuration is editable before creating: the generated form is there.
    await page.getByText("Default chunking configuration").click();
    await page.locator("#new-collection-chunk_size").waitFor();
    await page.fill("#new-collection-name", "E2E documents");
    await page.getByRole("button", { name: "Create collection" }).click();
    await page.waitForURL(/\/collections\/[0-9a-f-]{36}$/);
    state.collectionId = page.url().split("/").pop();
    await page.getByRole("heading", { name: "E2E documents", level: 1 }).waitFor();
    // The server fills in the defaults of the configuration it was given (none).
    await page.getByText('recursive (chunk_size=512, chunk_overlap=0, tokenizer="cl100k")').first().waitFor();
  });

  it("uploads markdown, text and PDF files with a progress bar each, and says why a file is refused", async () => {
    const pdf = readFileSync(join(here, "fixtures", "sample.pdf"));
    const big = bigMarkdown(50 * 1024);
    state.bigLength = big.length;
    // Uploads in flight at once (the UI sends a few together, each with its own request).
    let inFlight = 0;
    let mostAtOnce = 0;
    const isUpload = (request) => request.method() === "POST" && /\/documents$/.test(request.url());
    const onStart = (request) => isUpload(request) && (mostAtOnce = Math.max(mostAtOnce, ++inFlight));
    const onEnd = (request) => isUpload(request) && inFlight--;
    page.on("request", onStart);
    page.on("requestfinished", onEnd);
    page.on("requestfailed", onEnd);
    await page.setInputFiles("input[type=file]", [
      file("guide.md", "text/markdown", MARKDOWN),
      file("notes.txt", "text/plain", TEXT),
      file("sample.pdf", "application/pdf", pdf),
      file("fifty-kb.md", "text/markdown", big),
      file("picture.bin", "application/octet-stream", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 1, 2, 3, 0, 0xff, 0xfe, 0])),
    ]);
    // Dropped, not chosen: the drag-and-drop path.
    const transfer = await page.evaluateHandle((content) => {
      const dt = new DataTransfer();
      dt.items.add(new File([content], "payloads.md", { type: "text/markdown" }));
      return dt;
    }, XSS);
    await page.dispatchEvent("[data-testid=drop-zone]", "drop", { dataTransfer: transfer });

    const item = (name) => page.locator(`.upload-item[data-filename="${name}"]`);
    for (const name of ["guide.md", "notes.txt", "sample.pdf", "fifty-kb.md", "payloads.md"]) {
      await item(name).locator(".upload-status", { hasText: "✓ Uploaded" }).waitFor({ timeout: 20_000 });
      assert.equal(await item(name).locator("progress").evaluate((el) => el.value), 1);
    }
    await item("picture.bin").locator(".upload-status", { hasText: "✗ Rejected:" }).waitFor();
    assert.match(await item("picture.bin").locator(".upload-status").textContent(), /Rejected: .*picture\.bin/);
    // A refused file shows no (full) progress bar, and its reason has no field path or raw id.
    assert.equal(await item("picture.bin").locator("progress").count(), 0);
    assert.doesNotMatch(await item("picture.bin").locator(".upload-status").textContent(), /files:|[0-9a-f]{8}-[0-9a-f]{4}-/);
    page.off("request", onStart);
    page.off("requestfinished", onEnd);
    page.off("requestfailed", onEnd);
    measurements.uploads_at_once = mostAtOnce;
    assert.ok(mostAtOnce >= 2 && mostAtOnce <= 3, `uploads in flight at once: ${mostAtOnce}`);
    // The same content again, once the first copy is stored (uploads at once may finish in any
    // order): refused as a duplicate. And an over-limit file (the server runs with a 1 MB
    // per-file limit here): the 413's detail.
    await page.setInputFiles("input[type=file]", [
      file("guide-again.md", "text/markdown", MARKDOWN),
      file("huge.txt", "text/plain", "x ".repeat(1_700_000)),
    ]);
    await item("guide-again.md").locator(".upload-status", { hasText: "✗ Rejected:" }).waitFor();
    assert.match(await item("guide-again.md").locator(".upload-status").textContent(), /Rejected: .*already/i);
    await item("huge.txt").locator(".upload-status", { hasText: "✗ Rejected:" }).waitFor();
    assert.match(await item("huge.txt").locator(".upload-status").textContent(), /larger|limit|bytes/i);

    for (const name of ["guide.md", "notes.txt", "sample.pdf", "fifty-kb.md", "payloads.md"]) {
      await page.locator(`tr[data-document="${name}"]`).waitFor();
    }
    const docs = await apiJson(page, "GET", `/collections/${state.collectionId}/documents`);
    state.docs = Object.fromEntries(docs.items.map((d) => [d.filename, d.id]));
    await axe(page, "collection");
    await narrow(page, "collection");
    await shot(page, "collection-uploaded");
  });

  it("previews a document in the playground, following the parameters", async () => {
    await page.goto(`${BASE}/playground?document=${state.docs["guide.md"]}`);
    const preview = page.locator("[data-testid=preview][data-state=ready]");
    await preview.waitFor();
    await page.locator(".source-text .boundary").first().waitFor();
    await page.selectOption("#playground-strategy", "markdown");
    await page.waitForSelector("[data-testid=preview][data-state=ready][data-strategy=markdown]");
    await page.fill("#playground-chunk_size", "24");
    await page.waitForSelector(`[data-testid=preview][data-state=ready][data-params='{"chunk_size":24}']`);
    const markers = await page.locator(".source-text .boundary").count();
    assert.ok(markers >= 3, `expected several chunks at 24 tokens, saw ${markers}`);
    // The histogram works from the keyboard: focus a bar, move, select.
    await page.locator(".histogram-bar").first().focus();
    await page.keyboard.press("End");
    await page.keyboard.press("Enter");
    await page.locator(".bin-members").waitFor();
    // A value outside the schema's limits is refused at the field before any request, with
    // the limits, once the user leaves the field; the preview is marked out of date meanwhile.
    await page.fill("#playground-chunk_size", "4");
    await page.locator("#playground-chunk_size").blur();
    await page.getByText("Chunk Size must be 16 to 8192.").waitFor();
    await page.waitForSelector("[data-testid=preview][data-state=invalid][data-current=false]");
    await page.getByTestId("stale-notice").getByText("Out of date:").waitFor();
    await page.fill("#playground-chunk_size", "24");
    // The pair rule (overlap at most half the size) is checked at the field too.
    await page.fill("#playground-chunk_overlap", "20");
    await page.locator("#playground-chunk_overlap").blur();
    await page.getByText("Chunk Overlap must be at most half of the chunk size: at most 12 for 24.").waitFor();
    await page.fill("#playground-chunk_overlap", "4");
    await page.waitForSelector(`[data-testid=preview][data-state=ready][data-params='{"chunk_size":24,"chunk_overlap":4}']`);
    assert.ok((await page.locator(".source-text mark.seg-overlap").count()) > 0, "overlaps are shaded");
    await axe(page, "playground");
    await narrow(page, "playground");
    await shot(page, "playground");
  });

  it("fits its controls to the numbers: log-scale size, tokenizers from the server, presets, strategy defaults", async () => {
    await page.goto(`${BASE}/playground?document=${state.docs["guide.md"]}`);
    await page.waitForSelector("[data-testid=preview][data-state=ready]");
    // The chunk size slider is log-scale: 64 to 2048 take most of its length.
    const slider = page.getByLabel("Chunk Size slider");
    const max = Number(await slider.getAttribute("max"));
    assert.ok(max >= 20, `the slider has round sizes to stop at: ${max + 1}`);
    await page.getByRole("group", { name: "Chunk Size: common sizes" }).getByRole("button", { name: "256" }).click();
    assert.equal(await page.inputValue("#playground-chunk_size"), "256");
    await page.getByText("256 tokens is about 1,000 characters.").waitFor();
    // Typing 1024 key by key flags nothing on the way ("1", "10" and "102" are below 16 but on
    // their way to a valid value).
    await page.evaluate(() => {
      window.__flagged = false;
      new MutationObserver(() => {
        if (document.querySelector(".field-error, [aria-invalid=true]")) window.__flagged = true;
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.fill("#playground-chunk_size", "");
    await page.locator("#playground-chunk_size").pressSequentially("1024", { delay: 60 });
    await page.waitForSelector(`[data-testid=preview][data-state=ready][data-params*='"chunk_size":1024']`);
    assert.equal(await page.evaluate(() => window.__flagged), false, "an error flashed while 1024 was typed");
    // The tokenizer is chosen from what the server has.
    const tokenizers = await page.locator("#playground-tokenizer option").allTextContents();
    assert.ok(tokenizers.some((t) => t.startsWith("cl100k")) && tokenizers.some((t) => t.startsWith("chars")), `tokenizers: ${tokenizers}`);
    await page.selectOption("#playground-tokenizer", "chars");
    await page.getByText("1024 tokens is 1,024 characters.").waitFor();
    // A preset sets a whole configuration.
    await page.getByRole("button", { name: "Long context" }).click();
    assert.equal(await page.inputValue("#playground-chunk_size"), "2048");
    assert.equal(await page.inputValue("#playground-chunk_overlap"), "128");
    await page.waitForSelector(`[data-testid=preview][data-state=ready][data-params*='"chunk_size":2048']`);
    // Switching strategy starts from its defaults, keeping only what is valid for it: markdown's
    // min_fill 0.9 is out of semantic's range (at most 0.5), so semantic's default is used.
    await page.selectOption("#playground-strategy", "markdown");
    await page.fill("#playground-min_fill", "0.9");
    await page.selectOption("#playground-strategy", "semantic");
    assert.equal(await page.inputValue("#playground-min_fill"), "0.1");
    assert.equal(await page.inputValue("#playground-chunk_size"), "2048");
    assert.equal(await page.locator(".field-error").count(), 0);
    await axe(page, "playground (semantic)");
  });

  it("previews a 2 MB document in windows of chunks, without refusing it", async () => {
    const created = await apiJson(page, "POST", "/collections", { name: "Large" });
    const big = bigMarkdown(2 * 1024 * 1024);
    const [doc] = await uploadByApi(page, created.id, [file("two-mb.md", "text/markdown", big)]);
    const started = Date.now();
    await page.goto(`${BASE}/playground?document=${doc.id}`);
    await page.waitForSelector("[data-testid=preview][data-state=ready]", { timeout: 120_000 });
    await page.locator(".source-text .boundary").first().waitFor();
    const firstView = Date.now() - started;
    measurements.large_preview = { document_chars: big.length, first_view_ms: firstView };
    assert.ok(firstView <= LARGE_BUDGET_MS, `the 2 MB document's first view took ${firstView} ms`);
    assert.equal(await page.locator(".results .error-message").count(), 0);
    const nav = page.getByTestId("chunk-window");
    await nav.waitFor();
    assert.match(await nav.textContent(), /Showing chunks 1–\d+ of \d+/);
    // The text shown is the document's own, from its start.
    const shown = await page.locator(".source-text .seg").evaluateAll((els) => els.map((el) => el.textContent).join(""));
    assert.ok(shown.length > 100_000 && big.startsWith(shown.slice(0, 5000)), "the text around the chunks is the document's");
    await nav.getByRole("button", { name: "Next chunks" }).click();
    await page.waitForFunction(() => /Showing chunks (\d+)–/.exec(document.querySelector("[data-testid=chunk-window]")?.textContent ?? "")?.[1] !== "1", null, { timeout: 120_000 });
    await page.waitForSelector("[data-testid=preview][data-state=ready]", { timeout: 120_000 });
    const later = await page.locator(".source-text .seg").evaluateAll((els) => els.map((el) => el.textContent).join(""));
    assert.ok(later.length > 0 && big.includes(later.slice(0, 2000)), "a later window shows the document's text there");
    await shot(page, "playground-2mb");
  });

  it("shows hierarchical chunks as levels, each with its own sizes", async () => {
    await page.goto(`${BASE}/playground?document=${state.docs["fifty-kb.md"]}`);
    await page.waitForSelector("[data-testid=preview][data-state=ready]");
    await page.selectOption("#playground-strategy", "hierarchical");
    await page.fill("#playground-chunk_size", "128");
    await page.getByLabel("Include Parents").check();
    await page.locator("[data-testid=levels]").waitFor();
    const levels = await page.locator("[data-testid=levels] section[data-level]").count();
    assert.equal(levels, 2, "parents and leaves in lanes of their own");
    const leafMax = Number(await page.locator('[data-testid=levels] tr[data-level="1"] td').nth(3).textContent());
    assert.ok(leafMax <= 128, `the leaves' largest is a leaf's (${leafMax}), not a parent's`);
    await shot(page, "playground-levels");
  });

  it("draws the boundaries on the document's own text, blank lines and indents included", async () => {
    const created = await apiJson(page, "POST", "/collections", { name: "Spacing", config: { strategy: "recursive", params: { chunk_size: 16 } } });
    state.spacingId = created.id;
    const [doc] = await uploadByApi(page, created.id, [file("spaced.txt", "text/plain", SPACED)]);
    state.spacedDoc = doc.id;

    await page.goto(`${BASE}/playground?document=${doc.id}`);
    await page.waitForSelector("[data-testid=preview][data-state=ready]");
    await page.fill("#playground-chunk_size", "16");
    await page.waitForSelector(`[data-testid=preview][data-state=ready][data-params='{"chunk_size":16}']`);
    const shown = await page.evaluate(() => {
      const region = document.querySelector(".source-text");
      return {
        text: [...region.querySelectorAll(".seg")].map((el) => el.textContent).join(""),
        gaps: [...region.querySelectorAll(".seg-gap")].map((el) => el.textContent),
        boundaries: region.querySelectorAll(".boundary").length,
        whiteSpace: getComputedStyle(region).whiteSpace,
      };
    });
    // Character for character the document, whitespace between chunks included.
    assert.equal(shown.text, SPACED);
    assert.ok(shown.boundaries >= 4, `several chunks at 16 tokens: ${shown.boundaries}`);
    assert.ok(shown.gaps.some((g) => g.includes("\n\n\n")), `blank lines between chunks: ${JSON.stringify(shown.gaps)}`);
    assert.match(shown.whiteSpace, /^pre/, "blank lines and indents are shown, not collapsed");
    await shot(page, "playground-spacing");

    // The chunks screen shows a chunk's context from the same text.
    const op = await apiJson(page, "POST", `/collections/${created.id}/operations`, {});
    assert.equal((await waitOperation(page, op.id)).status, "completed");
    await page.goto(`${BASE}/documents/${doc.id}/chunks`);
    const third = page.locator(".chunk-card").nth(2);
    await third.waitFor();
    await third.locator("summary").click();
    const context = third.locator(".chunk-context[data-context-from=document-text]");
    await context.waitFor();
    const chunkText = await third.locator(".chunk-context mark").textContent();
    const contextText = await context.textContent();
    assert.ok(contextText.includes(chunkText));
    const at = SPACED.indexOf(chunkText);
    assert.ok(at > 0, `the chunk is a part of the document: ${JSON.stringify(chunkText)}`);
    assert.ok(contextText.includes(SPACED.slice(Math.max(0, at - 40), at) + chunkText), "the text before the chunk is the document's own, blank lines and all");
    await axe(page, "chunks of a document (context open)");
  });

  it("shows the new preview of a 50 KB document within the budget after a parameter change (p95)", async () => {
    await page.goto(`${BASE}/playground?document=${state.docs["fifty-kb.md"]}`);
    await page.waitForSelector("[data-testid=preview][data-state=ready]");
    await page.evaluate(() => {
      window.__perf = { t0: 0, samples: [] };
      const input = document.getElementById("playground-chunk_size");
      input.addEventListener("input", () => (window.__perf.t0 = performance.now()), true);
      const target = document.querySelector("[data-testid=preview]");
      let last = target.getAttribute("data-params");
      new MutationObserver(() => {
        const now = target.getAttribute("data-params");
        if (now === last || target.getAttribute("data-state") !== "ready") return;
        last = now;
        // Rendered = the next frame has been produced with the new chunks.
        requestAnimationFrame(() => setTimeout(() => window.__perf.samples.push(performance.now() - window.__perf.t0), 0));
      }).observe(target, { attributes: true, attributeFilter: ["data-params", "data-state"] });
    });
    const rounds = 25;
    for (let k = 0; k < rounds; k++) {
      const size = 150 + k * 13; // a new value each time: no cached preview
      await page.fill("#playground-chunk_size", String(size));
      await page.waitForFunction((n) => window.__perf.samples.length >= n, k + 1, { polling: "raf" });
      await page.waitForTimeout(50);
    }
    const samples = await page.evaluate(() => window.__perf.samples);
    const p95 = percentile(samples, 0.95);
    const p50 = percentile(samples, 0.5);
    measurements.preview = { document_chars: state.bigLength, rounds, p50_ms: Math.round(p50), p95_ms: Math.round(p95), samples_ms: samples.map(Math.round) };
    console.log(`preview latency for a ${state.bigLength}-character document: p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms over ${rounds} parameter changes`);
    assert.ok(p95 <= PREVIEW_BUDGET_MS, `p95 ${p95.toFixed(0)} ms is over the ${PREVIEW_BUDGET_MS} ms budget`);
  });

  it("compares three configurations side by side with a recommendation", async () => {
    await page.getByRole("link", { name: "Compare" }).click();
    await page.getByRole("heading", { name: "Compare configurations" }).waitFor();
    await page.getByLabel("An uploaded document").check();
    await page.selectOption("#compare-collection", state.collectionId);
    await page.locator(`#compare-document option[value="${state.docs["guide.md"]}"]`).waitFor({ state: "attached" });
    await page.selectOption("#compare-document", state.docs["guide.md"]);
    await page.getByRole("button", { name: /Add a configuration/ }).click();
    const third = page.locator(".config-card").nth(2);
    await third.locator("select").first().selectOption("character");
    await third.getByLabel("Chunk Size", { exact: true }).fill("32");
    await page.getByRole("button", { name: "Compare", exact: true }).click();
    const results = page.locator("[data-testid=compare-results]");
    await results.waitFor();
    await results.locator(".recommendation").getByText("Recommended: Configuration").waitFor();
    assert.equal(await results.locator("thead th").count(), 4); // metric + 3 configurations
    assert.equal(await results.locator(".histogram").count(), 3);
    assert.equal(await results.locator(".chunk-list").count(), 3);
    // One copy of the text with every configuration's boundaries, one lane each, aligned.
    const lanes = results.locator("[data-testid=compare-lanes]");
    assert.equal(await lanes.locator(".lane-row").count(), 3);
    assert.equal(await lanes.locator(".compare-text").count(), 1);
    assert.ok((await lanes.locator(".compare-text [data-cut]").count()) >= 3);
    const textShown = await lanes.locator(".compare-text").evaluate((el) => [...el.childNodes].map((n) => (n.nodeType === 1 ? [...n.childNodes].filter((c) => c.nodeType === 3).map((c) => c.textContent).join("") : "")).join(""));
    const guideText = await apiJson(page, "GET", `/documents/${state.docs["guide.md"]}/text`);
    assert.equal(textShown, guideText.text, "the text appears once, whole");
    // The histograms share one x-axis.
    assert.equal(await results.getByText(/the same axis, \d+ to \d+, for every configuration/).count(), 3);
    await axe(page, "compare");
    await narrow(page, "compare");
    await shot(page, "compare");
    // A change marks the results out of date until compared again.
    await third.getByLabel("Chunk Size", { exact: true }).fill("48");
    await page.getByTestId("compare-stale").waitFor();
    assert.equal(await page.locator(".config-card[data-changed=true]").count(), 1);
    await page.getByRole("button", { name: "Compare", exact: true }).click();
    await page.getByTestId("compare-stale").waitFor({ state: "detached" });
  });

  it("adds questions by selecting their answers in a document's text, imports and exports them", async () => {
    const created = await apiJson(page, "POST", "/collections", { name: "Evaluation", config: { strategy: "recursive", params: { chunk_size: 64 } } });
    state.evalId = created.id;
    const docs = await uploadByApi(page, created.id, [file("answers.md", "text/markdown", ANSWERS), file("guide.md", "text/markdown", MARKDOWN)]);
    state.evalDocs = Object.fromEntries(docs.map((d) => [d.filename, d.id]));
    await page.goto(`${BASE}/collections/${created.id}`);
    await page.getByRole("link", { name: "Evaluation questions" }).click();
    await page.getByRole("heading", { name: "Questions of Evaluation", level: 1 }).waitFor();
    await page.getByText("No questions yet: add one below, or import a CSV file.").waitFor();

    // A question whose answer comes after an emoji: selected with the mouse's own API (a DOM
    // selection), it is sent in code points (the emoji is one), not in UTF-16 units (two).
    await page.fill("#question-text", "What is the answer to everything?");
    await page.selectOption("#question-document", state.evalDocs["answers.md"]);
    const region = page.getByRole("region", { name: "Text of answers.md" });
    await region.waitFor();
    const answer = "The answer is forty-two.";
    await region.evaluate((el, words) => {
      const node = [...el.querySelectorAll("span")].map((s) => s.firstChild).find((n) => n && n.textContent.includes(words));
      const at = node.textContent.indexOf(words);
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + words.length);
      const selection = document.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      el.dispatchEvent(new MouseEvent("mouseup", { bubbles: true }));
    }, answer);
    // Where the answer is in the extracted text, in code points (what the server counts).
    const extracted = (await apiJson(page, "GET", `/documents/${state.evalDocs["answers.md"]}/text`)).text;
    const expectedStart = [...extracted.slice(0, extracted.indexOf(answer))].length;
    assert.ok(expectedStart > 0 && expectedStart < extracted.indexOf(answer), "the fixture has characters of two UTF-16 units before the answer");
    await page.locator(`[data-testid=picked][data-start="${expectedStart}"][data-end="${expectedStart + answer.length}"]`).waitFor();
    await page.getByRole("button", { name: "Add the selection as a reference" }).click();
    await page.getByRole("list", { name: "References of the new question" }).getByText(`characters ${expectedStart}–${expectedStart + answer.length}`, { exact: false }).waitFor();
    await axe(page, "questions (new question)");
    await narrow(page, "questions (new question)");
    await page.getByRole("button", { name: "Save the question" }).click();
    await page.locator(".question-list .question-text", { hasText: "What is the answer to everything?" }).waitFor();

    // A second, its answer found by typing it (the keyboard's way), in the other document.
    await page.fill("#question-text", "Which strategies are there?");
    await page.selectOption("#question-document", state.evalDocs["guide.md"]);
    await page.getByRole("region", { name: "Text of guide.md" }).waitFor();
    await page.fill("#question-find", "Character, recursive, markdown, semantic, hierarchical and hybrid.");
    await page.getByRole("button", { name: "Find", exact: true }).click();
    await page.getByRole("button", { name: "Add the selection as a reference" }).click();
    await page.getByRole("button", { name: "Save the question" }).click();
    await page.locator(".question-list .question-text", { hasText: "Which strategies are there?" }).waitFor();

    // What the server stored indexes the extracted text: its code points are the excerpts.
    const stored = (await apiJson(page, "GET", `/collections/${created.id}/questions`)).items;
    assert.equal(stored.length, 2);
    const textOf = async (id) => [...(await apiJson(page, "GET", `/documents/${id}/text`)).text];
    const answersText = await textOf(state.evalDocs["answers.md"]);
    const guideText = await textOf(state.evalDocs["guide.md"]);
    const [first, second] = stored;
    assert.deepEqual(first.references.map((r) => answersText.slice(r.start, r.end).join("")), [answer]);
    assert.deepEqual(second.references.map((r) => guideText.slice(r.start, r.end).join("")), ["Character, recursive, markdown, semantic, hierarchical and hybrid."]);

    // A CSV file in the shared set's format: one more question.
    const excerpt = "Install the package and run the service.";
    const at = guideText.join("").indexOf(excerpt);
    const csv = `question,references,corpus_id\n"How is it installed?","${JSON.stringify([{ content: excerpt, start_index: at, end_index: at + excerpt.length }]).replace(/"/g, '""')}",guide\n`;
    await page.setInputFiles("#questions-csv", file("questions.csv", "text/csv", csv));
    await page.getByTestId("import-result").getByText("Imported 1 question; the collection has 3 questions.").waitFor();
    await page.locator(".question-list .question-text", { hasText: "How is it installed?" }).waitFor();
    // A file with a bad row adds nothing, and says which row.
    await page.setInputFiles("#questions-csv", file("bad.csv", "text/csv", "question,references,corpus_id\n,[],guide\n"));
    await page.getByRole("alert").getByText(/^The file was not imported:/).waitFor();
    assert.match(await page.getByRole("alert").textContent(), /row 2/i);
    assert.equal((await apiJson(page, "GET", `/collections/${created.id}/questions`)).items.length, 3);
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Export the questions (CSV)" }).click()]);
    const exported = readFileSync(await download.path(), "utf8");
    assert.match(exported, /^question,references,corpus_id/);
    for (const q of ["What is the answer to everything?", "Which strategies are there?", "How is it installed?"]) assert.ok(exported.includes(q), `the export has ${q}`);
    await axe(page, "questions");
    await narrow(page, "questions");
    await shot(page, "questions");
  });

  it("evaluates configurations by retrieval: progress, the table with the best marked, a question's chunks against its answer", async () => {
    await page.getByRole("link", { name: "Evaluate configurations with these questions" }).click();
    await page.getByRole("heading", { name: "Evaluate Evaluation by retrieval", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "Configuration 1" }).waitFor();
    await page.getByRole("button", { name: "Add a configuration (1 of 6)" }).click();
    const second = page.locator(".config-card").nth(1);
    await second.locator("select").first().selectOption("character");
    await second.getByLabel("Chunk Size", { exact: true }).fill("32");
    await page.fill("#evaluation-k", "3");
    await axe(page, "evaluate");
    await narrow(page, "evaluate");
    await page.getByRole("button", { name: "Start the evaluation (2 configurations)" }).click();
    await page.waitForURL(/\/evaluations\/[0-9a-f-]{36}$/);
    const evaluationId = page.url().split("/").pop();
    await page.locator("[data-testid=evaluation-summary][data-status=completed]").waitFor({ timeout: 120_000 });
    const results = page.getByTestId("evaluation-results");
    await results.waitFor();
    const evaluation = await apiJson(page, "GET", `/evaluations/${evaluationId}`);
    assert.equal(evaluation.status, "completed");
    assert.equal(evaluation.k, 3);
    assert.equal(evaluation.results.length, 2);
    const rows = results.locator("tbody tr");
    assert.equal(await rows.count(), 2);
    // The best by IoU and by recall are marked where the server says they are.
    assert.equal(await results.locator("tbody tr[data-best-iou=true]").getAttribute("data-config"), String(evaluation.best.iou));
    assert.equal(await results.locator("tbody tr[data-best-recall=true]").getAttribute("data-config"), String(evaluation.best.recall));
    await results.locator("tbody tr[data-best-iou=true]").getByText("★ best IoU").waitFor();
    for (const [n, r] of evaluation.results.entries()) {
      const cells = await rows.nth(n).locator("td").allTextContents();
      assert.equal(cells[0], `${(Math.round(r.recall * 1000) / 10).toFixed(1)}%`);
      assert.equal(cells[2], `${(Math.round(r.iou * 1000) / 10).toFixed(1)}%`);
      assert.equal(cells[3], r.chunks.toLocaleString("en-US"));
    }
    await axe(page, "evaluation");
    await narrow(page, "evaluation");
    // A question opened: the chunks retrieved for it, against its reference, in the text.
    const question = page.locator(".eval-question", { hasText: "What is the answer to everything?" });
    await question.locator("summary").click();
    const text = question.locator(".eval-text").first();
    await text.waitFor();
    assert.ok((await question.locator(".eval-text mark.eval-reference, .eval-text mark.eval-both").count()) > 0, "the reference is marked");
    assert.ok((await question.locator(".eval-text [data-rank]").count()) > 0, "the retrieved chunks are marked");
    assert.ok((await text.textContent()).includes("The answer is forty-two."));
    await axe(page, "evaluation (question open)");
    await narrow(page, "evaluation (question open)");
    await shot(page, "evaluation");

    // From Compare: "Score by retrieval" evaluates the compared configurations.
    await page.getByRole("link", { name: "Compare" }).click();
    await page.getByRole("heading", { name: "Compare configurations" }).waitFor();
    await page.getByLabel("An uploaded document").check();
    await page.selectOption("#compare-collection", state.evalId);
    await page.locator(`#compare-document option[value="${state.evalDocs["guide.md"]}"]`).waitFor({ state: "attached" });
    await page.selectOption("#compare-document", state.evalDocs["guide.md"]);
    await page.getByRole("button", { name: "Score by retrieval" }).click();
    await page.waitForURL(/\/evaluations\/[0-9a-f-]{36}$/);
    await page.locator("[data-testid=evaluation-summary][data-status=completed]").waitFor({ timeout: 120_000 });
    assert.equal(await page.getByTestId("evaluation-results").locator("tbody tr").count(), 2);
    const list = await apiJson(page, "GET", `/collections/${state.evalId}/evaluations`);
    assert.equal(list.items.length, 2);
    assert.deepEqual(list.items[1].configs.map((c) => c.strategy), ["recursive", "markdown"]);
  });

  it("runs chunking and watches the progress reach 100% over the WebSocket", async () => {
    const frames = [];
    page.on("websocket", (ws) => ws.on("framereceived", (f) => frames.push(f.payload)));
    await page.goto(`${BASE}/collections/${state.collectionId}`);
    await page.getByRole("button", { name: "Start chunking" }).click();
    const progress = page.locator(".operation-progress").first();
    await progress.waitFor();
    await page.locator(".operation-progress[data-status=completed]").first().waitFor({ timeout: 60_000 });
    assert.equal(await progress.locator(".progress-percent").textContent(), "100%");
    assert.match(await progress.locator(".progress-text").textContent(), /Completed: 100%, 5 of 5 documents done, \d+ chunks created/);
    assert.ok(frames.some((f) => String(f).includes('"completed"')), "the final event came over the WebSocket");
    await page.locator('tr[data-document="guide.md"] .status', { hasText: "Chunked" }).waitFor();
    await axe(page, "collection (after chunking)");
    await shot(page, "collection-chunked");

    // Again, on one selected document with a custom configuration.
    await page.getByLabel("Select guide.md").check();
    await page.getByLabel("A custom configuration").check();
    await page.selectOption("#operation-strategy", "markdown");
    await page.fill("#operation-chunk_size", "32");
    await page.getByLabel(/Only the selected documents \(1\)/).check();
    await page.getByRole("button", { name: "Start chunking" }).click();
    await page.locator(".operation-progress").nth(0).locator(".progress-text", { hasText: "Completed: 100%, 1 of 1 documents done" }).waitFor({ timeout: 60_000 });
    const ops = await apiJson(page, "GET", `/collections/${state.collectionId}/operations`);
    assert.equal(ops.items.length, 2);
    assert.equal(ops.items[1].documents_total, 1);
    const guide = await apiJson(page, "GET", `/documents/${state.docs["guide.md"]}`);
    assert.ok(guide.chunk_count > 1, "the smaller custom chunk size made more chunks");
  });

  it("browses the chunks of the collection and of a document, and exports them", async () => {
    await page.getByRole("link", { name: "Browse chunks" }).click();
    await page.getByRole("heading", { name: "Chunks of E2E documents" }).waitFor();
    const first = page.locator(".chunk-card").first();
    await first.waitFor();
    assert.match(await first.locator(".chunk-meta").textContent(), /§0 .*tokens.*characters 0–\d+/);
    // Heading paths and pages appear where the chunks have them.
    await page.locator(".chunk-meta .headings", { hasText: "Chunkyard guide" }).first().waitFor();
    while (await page.getByRole("button", { name: /Load \d+ more chunks/ }).isVisible()) {
      await page.getByRole("button", { name: /Load \d+ more chunks/ }).click();
      await page.waitForTimeout(100);
    }
    await page.locator(".chunk-meta", { hasText: "page 1" }).first().waitFor();
    await first.locator("summary").click();
    await first.locator(".chunk-context mark").waitFor();
    await axe(page, "chunks of a collection");
    await narrow(page, "chunks of a collection");
    await shot(page, "chunks-collection");
    // Search: the server filters, the page marks the matches.
    await page.fill("#chunk-q", "RETRIEVAL");
    await page.getByTestId("chunk-count").getByText("of the chunks that match").waitFor();
    const marks = await page.locator(".chunk-text mark.match").allTextContents();
    assert.ok(marks.length > 0 && marks.every((m) => m.toLowerCase() === "retrieval"), `matches: ${marks.slice(0, 5)}`);
    const texts = await page.locator(".chunk-card .chunk-text").allTextContents();
    assert.ok(texts.every((t) => /retrieval/i.test(t)), "every chunk shown matches");
    await page.selectOption("#chunk-document", state.docs["guide.md"]);
    await page.waitForFunction(() => document.querySelectorAll(".chunk-card").length >= 1 && [...document.querySelectorAll(".chunk-card")].every((c) => c.textContent.includes("guide.md")));
    await shot(page, "chunks-search");
    await page.getByRole("button", { name: "Clear the filters" }).click();

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Export all chunks (JSONL)" }).click(),
    ]);
    const lines = readFileSync(await download.path(), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const collection = await apiJson(page, "GET", `/collections/${state.collectionId}`);
    assert.equal(lines.length, collection.chunk_count);
    assert.ok(lines.every((l) => typeof l.text === "string" && typeof l.source === "string" && l.end > l.start));
    assert.deepEqual(
      [...new Set(lines.map((l) => l.source))].sort(),
      ["fifty-kb.md", "guide.md", "notes.txt", "payloads.md", "sample.pdf"],
    );

    await page.goto(`${BASE}/documents/${state.docs["sample.pdf"]}/chunks`);
    await page.getByRole("heading", { name: "Chunks of sample.pdf" }).waitFor();
    await page.locator(".chunk-card").first().waitFor();
    await axe(page, "chunks of a document");
    await narrow(page, "chunks of a document");
    await shot(page, "chunks-document");
  });

  it("runs no script from a document full of injection payloads, in any view", async () => {
    const id = state.docs["payloads.md"];
    await page.goto(`${BASE}/documents/${id}/chunks`);
    await page.locator(".chunk-card").first().waitFor();
    for (const summary of await page.locator(".chunk-card summary").all()) await summary.click();
    assert.ok((await page.locator("main").textContent()).includes(`<script>window.__xss = 'script'`));
    await assertNoScriptRan(page, "the document's chunks");

    await page.goto(`${BASE}/playground?document=${id}`);
    await page.waitForSelector("[data-testid=preview][data-state=ready]");
    assert.ok((await page.locator(".source-text").textContent()).includes(`<svg onload="window.__xss='svg'">`));
    await assertNoScriptRan(page, "the playground (document)");

    await page.getByLabel("Paste text").check();
    // An empty box: nothing to chunk, so no chunks of the document just shown.
    await page.waitForSelector("[data-testid=preview][data-state=empty]");
    assert.equal(await page.locator(".source-text .boundary").count(), 0);
    await page.fill("#playground-text", XSS);
    await page.fill("#playground-filename", "payload.html");
    await page.waitForFunction(() => document.querySelector(".source-text")?.textContent?.includes("__xss = 'script'"));
    await assertNoScriptRan(page, "the playground (pasted text)");

    await page.goto(`${BASE}/collections/${state.collectionId}/chunks`);
    await page.locator(".chunk-card").first().waitFor();
    await assertNoScriptRan(page, "the collection's chunks");
    await shot(page, "payloads-as-text");
  });

  it("cancels a second run", async () => {
    // A collection with enough work to be caught running: 40 documents of 70 KB, tiny chunks.
    const created = await apiJson(page, "POST", "/collections", { name: XSS_NAME, config: { strategy: "character", params: { chunk_size: 16 } } });
    state.slowId = created.id;
    const words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split(" ");
    const files = Array.from({ length: 40 }, (_, k) =>
      file(`bulk-${k}.txt`, "text/plain", `Document ${k}.\n` + Array.from({ length: 9000 }, (_, w) => words[(w * (k + 3) + k) % words.length]).join(" ")),
    );
    for (let k = 0; k < files.length; k += 10) await uploadByApi(page, state.slowId, files.slice(k, k + 10));

    const requests = [];
    const onRequest = (request) => request.url().includes("/api/v1/") && requests.push(new URL(request.url()).pathname);
    page.on("request", onRequest);
    await page.goto(`${BASE}/`);
    await page.getByRole("link", { name: XSS_NAME }).waitFor();
    // The last operation comes with each collection: one request for the list, none per row.
    const lastOp = (id) => page.locator(`tr[data-collection="${id}"] .last-operation`);
    await lastOp(state.collectionId).getByText("Completed").waitFor();
    assert.match(await lastOp(state.collectionId).textContent(), /^Completed 1 of 1 document, /);
    assert.match(await lastOp(state.spacingId).textContent(), /^Completed 1 of 1 document, /);
    assert.equal(await lastOp(state.slowId).textContent(), "None yet");
    page.off("request", onRequest);
    assert.deepEqual(requests.filter((path) => path.includes("/operations")), [], `requests: ${requests}`);
    assert.equal(requests.filter((path) => path === "/api/v1/collections").length, 1, `requests: ${requests}`);
    await assertNoScriptRan(page, "the collections list (a collection named like a payload)");
    await axe(page, "collections");
    await narrow(page, "collections");
    await shot(page, "collections");
    await page.getByRole("link", { name: XSS_NAME }).click();
    // A custom configuration, cancelled part-way: the documents it did say what made them.
    await page.getByLabel("A custom configuration").check();
    await page.selectOption("#operation-strategy", "character");
    await page.fill("#operation-chunk_size", "16");
    await page.fill("#operation-chunk_overlap", "2");
    await page.getByRole("button", { name: "Start chunking" }).click();
    // Part-way: once a document or two are done (so there is provenance to see), not at the end.
    await page.getByRole("button", { name: "Cancel operation" }).waitFor();
    for (let k = 0; k < 300; k++) {
      const running = (await apiJson(page, "GET", `/collections/${state.slowId}/operations`)).items.at(-1);
      if (running && running.documents_done >= 1) break;
      await page.waitForTimeout(50);
    }
    await page.getByRole("button", { name: "Cancel operation" }).click();
    const op = page.locator(".operation-progress").first();
    await page.locator(".operation-progress[data-status=cancelled]").first().waitFor({ timeout: 30_000 });
    assert.match(await op.locator(".progress-text").textContent(), /^Cancelled: /);
    const ops = await apiJson(page, "GET", `/collections/${state.slowId}/operations`);
    const last = ops.items[ops.items.length - 1];
    assert.equal(last.status, "cancelled");
    assert.ok(last.documents_done < last.documents_total, "cancelled before the end");
    // Provenance: the documents done record the custom configuration, and the page says the
    // collection now mixes configurations (no row claims the default silently).
    const slow = await apiJson(page, "GET", `/collections/${state.slowId}`);
    const slowDocs = (await apiJson(page, "GET", `/collections/${state.slowId}/documents?limit=1000`)).items;
    const custom = slowDocs.filter((d) => d.chunked_with);
    assert.equal(custom.length, last.documents_done);
    assert.ok(custom.every((d) => d.chunked_with.strategy === "character" && d.chunked_with.params.chunk_overlap === 2 && d.stale));
    measurements.provenance = { done: last.documents_done, other_config_documents: slow.other_config_documents, stale: slow.stale_documents };
    assert.ok(custom.length >= 1, "the run was cancelled after a document was done");
    {
      assert.equal(slow.other_config_documents, custom.length);
      await page.getByTestId("provenance").getByText(/^Mixed configurations:/).waitFor();
      await page.getByTestId("provenance").getByRole("button", { name: /^Re-chunk the \d+ stale document/ }).waitFor();
      const row = page.locator(`tr[data-document="${custom[0].filename}"]`);
      assert.match(await row.locator(".chunked-with").textContent(), /^character \(chunk_size=16, chunk_overlap=2/);
      await row.getByText("Stale").waitFor();
    }
    await axe(page, "collection (mixed configurations)");
    await shot(page, "operation-cancelled");
    // The collections list says so.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Collections" }).click();
    const cell = page.locator(`tr[data-collection="${state.slowId}"] .last-operation`);
    await cell.getByText("Cancelled").waitFor();
    assert.match(await cell.textContent(), new RegExp(`^Cancelled ${last.documents_done} of 40 documents, `));
  });

  it("keeps the progress coming by polling when the WebSocket is blocked", async () => {
    const blocked = await browser.newContext({ viewport: { width: 1280, height: 900 }, storageState: await context.storageState() });
    let attempts = 0;
    await blocked.routeWebSocket(/\/api\/v1\/operations\/.*\/ws$/, (ws) => {
      attempts++;
      void ws.close({ code: 1011, reason: "blocked by the test" });
    });
    // A PDF in name and first bytes only: refused by the extractor during the run, so the
    // operation reports a failed document, and the table says why.
    await uploadByApi(page, state.slowId, [file("broken.pdf", "application/pdf", "%PDF-1.4\nthis is not really a PDF\n")]);
    // Another configuration: no document is skipped as already chunked by the cancelled run
    // (however far it got), so the run is long enough to be watched.
    await apiJson(page, "PATCH", `/collections/${state.slowId}`, { config: { strategy: "character", params: { chunk_size: 16, chunk_overlap: 8 } } });
    const p = await newPage(blocked);
    const frames = [];
    p.on("websocket", (ws) => ws.on("framereceived", (f) => frames.push(f.payload)));
    await p.goto(`${BASE}/collections/${state.slowId}`);
    await p.getByRole("heading", { level: 1 }).waitFor();
    await watchAttribute(p, ".operation-progress", "data-transport");
    await p.evaluate(() => {
      window.__percents = new Set();
      new MutationObserver(() => {
        for (const el of document.querySelectorAll(".operation-progress .progress-percent")) window.__percents.add(el.textContent);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await p.getByRole("button", { name: "Start chunking" }).click();
    await p.locator(".operation-progress[data-status=completed]").first().waitFor({ timeout: 120_000 });
    assert.equal(await p.locator(".operation-progress .progress-percent").first().textContent(), "100%");
    assert.match(await p.locator(".operation-progress .progress-text").first().textContent(), /40 of 41 documents done, \d+ chunks created, 1 failed$/);
    const broken = p.locator('tr[data-document="broken.pdf"]');
    await broken.locator(".status", { hasText: "Failed" }).waitFor();
    assert.ok(((await broken.locator("td").nth(5).textContent()) ?? "").trim().length > 0, "the failure's reason is shown");
    const transports = await seenValues(p);
    const percents = await p.evaluate(() => [...window.__percents]);
    measurements.polling = { attempts, transports, percents };
    assert.ok(transports.includes("polling"), `polling was used: ${transports}`);
    assert.ok(!transports.includes("socket"), "the socket never came up");
    assert.ok(attempts >= 2, `the socket was retried with backoff (${attempts} attempts)`);
    assert.ok(percents.some((t) => t !== "0%" && t !== "100%"), `progress between 0 and 100% arrived: ${percents}`);
    assert.deepEqual(frames, []);
    await shot(p, "progress-by-polling");
    await p.close();
    await blocked.close();
  });

  it("renames, reconfigures and deletes a collection; an empty one has nothing to chunk or export", async () => {
    const created = await apiJson(page, "POST", "/collections", { name: "Scratch" });
    await page.goto(`${BASE}/collections/${created.id}`);
    await page.getByRole("heading", { name: "Scratch", level: 1 }).waitFor();
    // Empty: no run, and export says there is nothing to export.
    assert.equal(await page.getByRole("button", { name: "Start chunking" }).isDisabled(), true);
    await page.getByText("Nothing to chunk: upload documents first.").first().waitFor();
    await page.getByRole("button", { name: "Export chunks (JSONL)" }).click();
    await page.getByRole("status").getByText(/^Nothing to export/).waitFor();
    await axe(page, "collection (empty)");
    // Rename.
    await page.getByRole("button", { name: "Rename" }).click();
    await page.fill("#rename-collection", "Scratch, renamed");
    await page.getByRole("button", { name: "Save name" }).click();
    await page.getByRole("heading", { name: "Scratch, renamed", level: 1 }).waitFor();
    // Edit the default configuration.
    await page.getByRole("button", { name: "Edit the default configuration" }).click();
    await page.selectOption("#default-config-strategy", "markdown");
    await page.fill("#default-config-chunk_size", "300");
    await page.getByRole("button", { name: "Save the default configuration" }).click();
    await page.getByText('markdown (chunk_size=300').first().waitFor();
    const after = await apiJson(page, "GET", `/collections/${created.id}`);
    assert.equal(after.name, "Scratch, renamed");
    assert.equal(after.config.strategy, "markdown");
    assert.equal(after.config.params.chunk_size, 300);
    // Delete, through the page's own dialog (the browser's confirm() would be recorded).
    await page.getByRole("button", { name: "Delete collection" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete Scratch, renamed?" });
    await dialog.waitFor();
    await axe(page, "delete dialog");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    await page.getByRole("button", { name: "Delete collection" }).click();
    await dialog.getByRole("button", { name: "Delete the collection" }).click();
    await page.waitForURL(`${BASE}/`);
    const response = await page.request.get(`${BASE}/api/v1/collections/${created.id}`);
    assert.equal(response.status(), 404);
  });

  it("sorts the documents table and exports one document's chunks", async () => {
    await page.goto(`${BASE}/collections/${state.collectionId}`);
    await page.locator('tr[data-document="guide.md"]').waitFor();
    const names = () => page.locator("tr[data-document]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-document")));
    await page.getByRole("button", { name: /^Size/ }).click();
    const bySize = await names();
    assert.equal(bySize[0], "fifty-kb.md", `largest first: ${bySize}`);
    await page.getByRole("button", { name: /^File/ }).click();
    assert.deepEqual(await names(), [...bySize].sort((a, b) => a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" })));
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export the chunks of guide.md" }).click(),
    ]);
    const lines = readFileSync(await download.path(), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const guide = await apiJson(page, "GET", `/documents/${state.docs["guide.md"]}`);
    assert.equal(lines.length, guide.chunk_count);
    assert.ok(lines.every((l) => l.source === "guide.md" && typeof l.id === "string"));
  });

  it("sends an expired session to sign in, and back", async () => {
    await page.goto(`${BASE}/collections/${state.collectionId}`);
    await page.getByRole("heading", { name: "E2E documents", level: 1 }).waitFor();
    await context.clearCookies();
    await page.getByRole("link", { name: "Compare" }).click();
    await page.waitForURL(/\/login\?next=%2Fcompare$/);
    await signIn(page);
    await page.waitForURL(`${BASE}/compare`);
    await page.getByRole("heading", { name: "Compare configurations" }).waitFor();
  });

  it("signs out", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${BASE}/login`);
    await page.goto(`${BASE}/`);
    await page.waitForURL(`${BASE}/login`);
    await page.locator("#login-username").waitFor();
  });

  it("shows the API documentation offline, under its policy", async () => {
    const docs = await context.newPage();
    const violations = [];
    const elsewhere = [];
    docs.on("console", (msg) => /Content Security Policy/i.test(msg.text()) && violations.push(msg.text()));
    docs.on("request", (request) => !request.url().startsWith(BASE) && elsewhere.push(request.url()));
    const response = await docs.goto(`${BASE}/docs`);
    assert.equal(response.status(), 200);
    // Swagger UI (shipped with the install, no CDN) renders the API's operations.
    await docs.locator(".swagger-ui .info .title").waitFor({ timeout: 15000 });
    await docs.locator(".opblock-summary-path", { hasText: "/api/v1/collections" }).first().waitFor();
    assert.deepEqual(violations, []);
    assert.deepEqual(elsewhere, []);
    await docs.close();
  });

  it("ran no script, opened no dialog, broke no CSP and threw nothing anywhere", async () => {
    assert.deepEqual(dialogs, []);
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
  });
});
