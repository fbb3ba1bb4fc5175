// Browser test of the playground page served by chatkit-server at `GET /`.
//
// It starts the real server binary with no configuration in a temporary directory (so it runs
// on SQLite with the built-in demo model and anonymous auth), drives the page in headless
// Chromium and checks what a user would see. Nothing waits a fixed time: every step waits on a
// condition of the page or the server, with a timeout.
//
//   CHATKIT_SERVER_BIN  path to the server binary (default: target/debug/chatkit-server)
//   CHROMIUM_PATH       path to Chromium (default: /usr/bin/chromium)

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SERVER_BIN = process.env.CHATKIT_SERVER_BIN
  ? path.resolve(process.env.CHATKIT_SERVER_BIN)
  : path.join(REPO_ROOT, "target/debug/chatkit-server");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SCREENSHOT = path.join(REPO_ROOT, "target/playground.png");
const TIMEOUT = 20_000;

// What the demo model answers (crates/agent-runtime/src/model/demo.rs).
const demoReply = (text) =>
  `Hello from the demo model (no API key is configured, so nothing here is real). You said: ${text}`;

let server;
let base;
let context;
let page;
let workDir;
const pageProblems = [];

/** A port nobody listens on right now (the server binds it a moment later). */
async function freePort() {
  const probe = net.createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  probe.close();
  await once(probe, "close");
  return port;
}

/** The environment minus anything that would configure the server away from its defaults. */
function cleanEnvironment() {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(CHATKIT_|OPENAI_|DATABASE_URL$|BETTER_AUTH_)/.test(name)) continue;
    env[name] = value;
  }
  env.RUST_LOG = "warn";
  return env;
}

/**
 * Starts the server in `cwd` with extra `args` and resolves once `/healthz` answers; rejects if
 * it exits first.
 */
async function startServer(cwd, args = []) {
  await fs.access(SERVER_BIN).catch(() => {
    throw new Error(`no server binary at ${SERVER_BIN}: run \`cargo build -p chatkit-server\` or set CHATKIT_SERVER_BIN`);
  });
  const port = await freePort();
  const child = spawn(SERVER_BIN, ["--bind", `127.0.0.1:${port}`, ...args], {
    cwd,
    env: cleanEnvironment(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = [];
  child.stdout.on("data", (chunk) => output.push(chunk));
  child.stderr.on("data", (chunk) => output.push(chunk));
  child.output = () => Buffer.concat(output).toString("utf8");
  const exited = once(child, "exit").then(([code, signal]) => {
    throw new Error(`the server exited (${code ?? signal}) before it was healthy:\n${child.output()}`);
  });
  exited.catch(() => {});
  const url = `http://127.0.0.1:${port}`;
  const healthy = (async () => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      try {
        const response = await fetch(`${url}/healthz`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      // Poll again on the next turn of a short timer: this waits on a condition, not a fixed time.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the server was not healthy within 60 s:\n${child.output()}`);
  })();
  await Promise.race([healthy, exited]);
  return { child, url };
}

/** Waits until `check` resolves to a truthy value, polling; fails with `what` after the timeout. */
async function until(what, check, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** A ChatKit request straight to the server, as a second client would make it. */
async function chatkit(type, params) {
  const response = await fetch(`${base}/chatkit`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type, params }),
  });
  assert.equal(response.status, 200, `${type}: ${await response.clone().text()}`);
  return response.json();
}

/** The text of every shown message, in order, as `role: text`. */
async function shownMessages() {
  return page.$$eval("#items .message", (nodes) =>
    nodes.map((node) => `${node.dataset.type}: ${node.querySelector(".text")?.textContent ?? ""}`),
  );
}

async function waitForFinishedAnswers(count) {
  await page.waitForFunction(
    (expected) =>
      document.querySelectorAll('#items .message[data-type="assistant_message"]:not([data-streaming])').length >=
        expected && document.body.dataset.streaming === "false",
    count,
    { timeout: TIMEOUT },
  );
}

before(async () => {
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), "chatkit-e2e-"));
  ({ child: server, url: base } = await startServer(workDir));
  context = await chromium.launchPersistentContext(path.join(workDir, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1200, height: 800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  // Any script error or policy violation fails the run: the page must work under its own CSP.
  page.on("pageerror", (error) => pageProblems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") pageProblems.push(`console error: ${message.text()}`);
  });
});

async function stopServer(child) {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  }
}

after(async () => {
  await context?.close();
  await stopServer(server);
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

test("a conversation streams live, survives a reload and is listed", async () => {
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.title(), "ChatKit playground");
  await page.waitForSelector("#thread-list-empty:not([hidden])");

  // Record every length the streaming answer goes through: more than one means it was drawn
  // live, delta by delta, not at the end.
  await page.evaluate(() => {
    window.streamedLengths = [];
    new MutationObserver(() => {
      const text = document.querySelector('.message[data-type="assistant_message"][data-streaming] .text');
      if (text) window.streamedLengths.push(text.textContent.length);
    }).observe(document.getElementById("items"), { subtree: true, childList: true, characterData: true });
  });

  const first = "First question from the browser";
  await page.fill("#message", first);
  await page.click("#send");
  await waitForFinishedAnswers(1);
  const streamed = await page.evaluate(() => new Set(window.streamedLengths).size);
  assert.ok(streamed > 1, `the answer was drawn in ${streamed} step(s), not streamed`);
  assert.deepEqual(await shownMessages(), [`user_message: ${first}`, `assistant_message: ${demoReply(first)}`]);

  // The new thread is listed and in the address, so a reload reopens it.
  await page.waitForSelector("#thread-list .thread-link.active");
  const threadId = await page.getAttribute("#thread-list .thread-link.active", "data-thread-id");
  assert.match(threadId, /^thr_/);
  assert.equal(new URL(page.url()).hash, `#${threadId}`);

  // The second message goes to the same thread (Enter sends).
  const second = "And a second one";
  await page.fill("#message", second);
  await page.press("#message", "Enter");
  await waitForFinishedAnswers(2);
  const conversation = [
    `user_message: ${first}`,
    `assistant_message: ${demoReply(first)}`,
    `user_message: ${second}`,
    `assistant_message: ${demoReply(second)}`,
  ];
  assert.deepEqual(await shownMessages(), conversation);
  assert.equal(await page.locator("#thread-list .thread-link").count(), 1);

  // The server saw one thread with both exchanges.
  const listed = await chatkit("threads.list", { limit: 10 });
  assert.deepEqual(
    listed.data.map((thread) => thread.id),
    [threadId],
  );

  // Feedback on the first answer.
  await page.locator('#items .message[data-type="assistant_message"] .thumb').first().click();
  await page.waitForSelector('#items .message[data-type="assistant_message"] .thumb.chosen');

  // Rename.
  await page.click("#rename-thread");
  await page.fill("#rename-input", "Browser test thread");
  await page.press("#rename-input", "Enter");
  await page.waitForSelector('#thread-title:text("Browser test thread")');
  await page.waitForSelector('#thread-list .thread-link:text("Browser test thread")');

  // Reload: the thread is listed and reopened with both exchanges.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`#thread-list .thread-link[data-thread-id="${threadId}"]:text("Browser test thread")`);
  await page.waitForFunction(() => document.querySelectorAll("#items .message").length === 4);
  assert.deepEqual(await shownMessages(), conversation);
  assert.equal(await page.textContent("#thread-title"), "Browser test thread");

  // A fresh visit without the address: open it from the list.
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click(`#thread-list .thread-link[data-thread-id="${threadId}"]`);
  await page.waitForFunction(() => document.querySelectorAll("#items .message").length === 4);
  assert.deepEqual(await shownMessages(), conversation);

  await fs.mkdir(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  assert.deepEqual(pageProblems, []);
});

test("stop aborts the stream and the server keeps the partial answer", async () => {
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click("#new-thread");
  // The demo model echoes the message word by word, 30 ms a word: a long message gives a long
  // answer, so there is time to press stop while it streams.
  const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(" ");
  await page.fill("#message", long);
  await page.click("#send");
  await page.waitForSelector('#items .message[data-type="assistant_message"][data-streaming] .text:not(:empty)');
  await page.click("#stop");
  await page.waitForSelector('#items .message[data-type="assistant_message"].stopped');
  await page.waitForSelector('body[data-streaming="false"]');
  const threadId = await page.getAttribute("#thread-list .thread-link.active", "data-thread-id");

  // The server saves what was answered so far, once it notices the client left.
  const saved = await until("the partial answer to be saved", async () => {
    const items = await chatkit("items.list", { thread_id: threadId, order: "asc" });
    const answer = items.data.find((item) => item.type === "assistant_message");
    return answer && answer.content.map((part) => part.text).join("");
  });
  assert.ok(demoReply(long).startsWith(saved), "the saved text is a prefix of the answer");
  assert.ok(saved.length < demoReply(long).length, "the answer was cut short");

  // The composer works again after a stop.
  await page.fill("#message", "after the stop");
  await page.click("#send");
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('#items .message[data-type="assistant_message"]:not([data-streaming]) .text')].some(
        (node) => node.textContent.endsWith("You said: after the stop"),
      ),
    null,
    { timeout: TIMEOUT },
  );
  assert.deepEqual(pageProblems, []);
});

test("a thread can be deleted", async () => {
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click("#new-thread");
  await page.fill("#message", "Delete me");
  await page.click("#send");
  await waitForFinishedAnswers(1);
  const threadId = await page.getAttribute("#thread-list .thread-link.active", "data-thread-id");
  await page.click("#delete-thread");
  await page.click("#delete-thread");
  await page.waitForSelector(`#thread-list .thread-link[data-thread-id="${threadId}"]`, { state: "detached" });
  await page.waitForSelector('#thread-title:text("New thread")');
  const listed = await chatkit("threads.list", { limit: 50 });
  assert.ok(!listed.data.some((thread) => thread.id === threadId), "the server forgot the thread");
  assert.deepEqual(pageProblems, []);
});

test("an image is uploaded in two phases, sent and previewed", async () => {
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click("#new-thread");
  // A 1x1 PNG.
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    "base64",
  );
  await page.setInputFiles("#file-input", { name: "dot.png", mimeType: "image/png", buffer: png });
  await page.waitForSelector('#pending-attachments .attachment[data-status="ready"] img.preview');
  await page.fill("#message", "What is in this picture?");
  await page.click("#send");
  await waitForFinishedAnswers(1);
  // The composer let go of the attachment once the message carrying it was saved.
  assert.equal(await page.locator("#pending-attachments .attachment").count(), 0);

  // The preview is the uploaded bytes, fetched from the server with the page's credentials.
  const previewLoaded = () =>
    page.waitForFunction(() => {
      const image = document.querySelector('#items .message[data-type="user_message"] .attachment img.preview');
      return image && image.src.startsWith("blob:") && image.complete && image.naturalWidth === 1;
    });
  await previewLoaded();
  const threadId = await page.getAttribute("#thread-list .thread-link.active", "data-thread-id");
  const thread = await chatkit("threads.get_by_id", { thread_id: threadId });
  const message = thread.items.data.find((item) => item.type === "user_message");
  assert.equal(message.attachments.length, 1);
  assert.equal(message.attachments[0].type, "image");
  assert.equal(message.attachments[0].name, "dot.png");
  const stored = await fetch(new URL(message.attachments[0].preview_url, base));
  assert.equal(stored.status, 200);
  assert.deepEqual(Buffer.from(await stored.arrayBuffer()), png);

  // And again after a reload, from the stored thread.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await previewLoaded();
  assert.deepEqual(pageProblems, []);
});

test("a question about the project is answered from its docs with numbered citation links", async () => {
  // The no-config server searches the project's own documentation (embedded in the binary) and
  // the demo model cites what it quotes.
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click("#new-thread");
  await page.fill("#message", "how do I configure JWKS?");
  await page.click("#send");
  await waitForFinishedAnswers(1);

  // The answer shows [n] links to the documents, titled by the source; no marker is left as text.
  const answer = '#items .message[data-type="assistant_message"]:not([data-streaming])';
  await page.waitForSelector(`${answer} .text a.citation`);
  const citations = await page.$$eval(`${answer} .text a.citation`, (links) =>
    links.map((link) => ({ text: link.textContent, href: link.getAttribute("href"), title: link.title })),
  );
  assert.ok(citations.length > 0);
  for (const citation of citations) {
    assert.match(citation.text, /^\[\d+\]$/);
    assert.match(citation.href, /^\/playground\/docs\/[A-Z-]+\.md(#.*)?$/);
    assert.ok(citation.title.length > 0, "the citation names its source");
  }
  const text = await page.textContent(`${answer} .text`);
  const withoutLinks = citations.reduce((rest, citation) => rest.replace(citation.text, ""), text);
  assert.doesNotMatch(withoutLinks, /\[\d+\]/, "every marker is a link");
  assert.match(text.toLowerCase(), /jwks/);

  // The sources under the answer link to the same documents, and the documents are served.
  const listed = await page.$$eval(`${answer} .sources a`, (links) => links.map((link) => link.getAttribute("href")));
  assert.ok(listed.length > 0);
  for (const citation of citations) assert.ok(listed.includes(citation.href), `${citation.href} in ${listed}`);
  const doc = await fetch(new URL(citations[0].href, base));
  assert.equal(doc.status, 200);
  assert.match(await doc.text(), /^# /);

  // The search task shows its query and the documents it found.
  await page.click('#items .message[data-type="workflow"] summary');
  const task = '#items .message[data-type="workflow"] .task[data-status="complete"]';
  await page.waitForSelector(`${task} .sources a`);
  assert.match(await page.textContent(`${task} .task-title`), /how do I configure JWKS\?/);
  const found = await page.$$eval(`${task} .sources a`, (links) => links.map((link) => link.getAttribute("href")));
  for (const href of found) assert.match(href, /^\/playground\/docs\//);

  // A reload draws the stored answer the same way.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`${answer} .text a.citation`);
  assert.equal(await page.locator(`${answer} .text a.citation`).count(), citations.length);
  await page.screenshot({ path: path.join(REPO_ROOT, "target/playground-citations.png") });
  assert.deepEqual(pageProblems, []);
});

test("a tool call is shown as a workflow task", async (t) => {
  // A second server, configured with the bundled todo MCP server, so the demo model calls a
  // tool when asked to add a task.
  const dir = path.join(workDir, "with-tools");
  await fs.mkdir(dir);
  const config = path.join(dir, "chatkit.toml");
  await fs.writeFile(
    config,
    [
      "[[mcp_servers]]",
      'name = "todo"',
      `transport = { type = "stdio", command = ${JSON.stringify(SERVER_BIN)}, args = ["todo-mcp", "--db", "todo.db"] }`,
      'user_id_arguments = ["user_id"]',
      "",
    ].join("\n"),
  );
  const { child, url } = await startServer(dir, ["--config", config]);
  t.after(() => stopServer(child));

  await page.goto(`${url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.fill("#message", "Add a task to buy milk");
  await page.click("#send");
  // A finished workflow is collapsed (as ChatKit shows it), so its task is attached but hidden.
  await page.waitForSelector('#items .message[data-type="workflow"] .task[data-status="complete"]', {
    state: "attached",
  });
  await waitForFinishedAnswers(1);
  const task = await page.textContent('#items .message[data-type="workflow"] .task .task-title');
  assert.match(task, /add_task/);
  const answer = await page.textContent('#items .message[data-type="assistant_message"] .text');
  assert.match(answer, /^Done\. The tool answered: /);
  // The workflow comes before the answer it led to.
  const types = await page.$$eval("#items .message", (nodes) => nodes.map((node) => node.dataset.type));
  assert.deepEqual(types, ["user_message", "workflow", "assistant_message"]);
  // Unfolding the workflow shows its task.
  await page.click('#items .message[data-type="workflow"] summary');
  await page.waitForSelector('#items .message[data-type="workflow"] .task[data-status="complete"]');
  await page.screenshot({ path: path.join(REPO_ROOT, "target/playground-tools.png") });
  assert.deepEqual(pageProblems, []);
});

test("ticking a task in the list widget completes it and the widget updates in place", async (t) => {
  // A server with no configuration: the demo model, the bundled todo MCP server and its
  // `todo.complete_task` widget action, on a database of its own.
  const dir = path.join(workDir, "widgets");
  await fs.mkdir(dir);
  const { child, url } = await startServer(dir);
  t.after(() => stopServer(child));

  await page.goto(`${url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.fill("#message", "Add a task to buy eggs");
  await page.click("#send");
  await waitForFinishedAnswers(1);
  await page.fill("#message", "List my tasks");
  await page.click("#send");
  await waitForFinishedAnswers(2);

  // The list is drawn as ChatKit draws it: a list view with a checkbox and a title per task.
  const widget = '#items .message[data-type="widget"]';
  const box = `${widget} .wk-ListViewItem .wk-Checkbox input[type="checkbox"]`;
  await page.waitForSelector(box);
  assert.equal(await page.isChecked(box), false);
  const title = await page.textContent(`${widget} .wk-ListViewItem .wk-Text`);
  assert.match(title, /buy eggs/);
  const types = await page.$$eval("#items .message", (nodes) => nodes.map((node) => node.dataset.type));
  assert.deepEqual(types, [
    "user_message",
    "workflow",
    "assistant_message",
    "user_message",
    "workflow",
    "widget",
    "assistant_message",
  ]);

  // Ticking it sends the widget's synchronous action; the answer replaces the widget in place.
  await page.click(box);
  await page.waitForSelector(`${box}[disabled]`);
  assert.equal(await page.isChecked(box), true);
  const struck = await page.$eval(`${widget} .wk-ListViewItem .wk-Text`, (node) => node.style.textDecoration);
  assert.equal(struck, "line-through");
  assert.equal(await page.$$eval(widget, (nodes) => nodes.length), 1, "the widget was replaced, not added");

  // The task is stored as done, and the thread keeps the updated widget.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`${box}[disabled]`);
  assert.equal(await page.isChecked(box), true);
  await page.fill("#message", "List my tasks again");
  await page.click("#send");
  await waitForFinishedAnswers(3);
  await page.waitForFunction((selector) => document.querySelectorAll(selector).length === 2, widget);
  const latest = await page.$$eval(`${widget} input[type="checkbox"]`, (boxes) =>
    boxes.map((node) => ({ checked: node.checked, disabled: node.disabled })),
  );
  assert.deepEqual(latest, [
    { checked: true, disabled: true },
    { checked: true, disabled: true },
  ]);
  await page.screenshot({ path: path.join(REPO_ROOT, "target/playground-widget.png") });
  assert.deepEqual(pageProblems, []);
});
