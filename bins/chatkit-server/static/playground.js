// The ChatKit playground: a small client of the ChatKit protocol for this server.
//
// Every request is a POST of JSON to one endpoint; streaming requests answer with
// `data: <json>\n\n` frames. The stream is read with fetch + ReadableStream rather than
// EventSource, because EventSource can neither POST nor send an Authorization header.
//
// Safety rule: text that comes from the server (model output, titles, file names, error
// messages) only ever reaches the page through textContent or attribute setters, never as markup.

const ENDPOINT =
  document.querySelector('meta[name="chatkit-endpoint"]')?.getAttribute("content") || "/chatkit";
const TOKEN_KEY = "chatkit-playground.token";
const THREAD_PAGE_SIZE = 20;
const ITEM_PAGE_SIZE = 30;

const $ = (id) => document.getElementById(id);

const state = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  threads: [],
  threadsAfter: null,
  threadsHasMore: false,
  /** The open thread, or null for a new (not yet created) thread. */
  thread: null,
  /** Cursor of the next older page of items, when there is one. */
  olderAfter: null,
  /** Rendered items by id: { item, element }. */
  items: new Map(),
  /** The running stream: { controller, threadId } or null. */
  stream: null,
  /** Attachments of the next message: { id, file, status, attachment, objectUrl, element }. */
  pending: [],
  /** Blob URLs of previews fetched for the open thread, revoked when it closes. */
  previewUrls: [],
  /** Bumped on every thread switch, so late answers for a thread no longer shown are dropped. */
  view: 0,
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** Creates an element with a class and text (set with textContent). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// Icons are drawn as inline SVG built node by node: emoji fonts are not everywhere, and the
// policy allows no data: images.
const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  thumb: ["M7 10v11H3V10z", "M7 10l4-8c1.7 0 3 1.3 3 3v3h5.5a2 2 0 0 1 2 2.3l-1.3 8a2 2 0 0 1-2 1.7H7"],
  file: ["M6 2h8l4 4v16H6z", "M14 2v4h4", "M9 13h6", "M9 17h6"],
  image: ["M3 5h18v14H3z", "M3 16l5-5 4 4 3-3 6 6", "M15.5 9.5a1 1 0 1 0 0-.01"],
};

function icon(name, className) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", className ? `icon ${className}` : "icon");
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** A button; `label` is text or a node (an icon). */
function button(label, className, onClick, title) {
  const node = el("button", className, typeof label === "string" ? label : undefined);
  if (typeof label !== "string") node.append(label);
  node.type = "button";
  if (title) {
    node.title = title;
    node.setAttribute("aria-label", title);
  }
  node.addEventListener("click", onClick);
  return node;
}

function showBanner(message, level = "error") {
  $("banner-text").textContent = message;
  $("banner").dataset.level = level;
  $("banner").hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

function scrollToBottom() {
  const messages = $("messages");
  messages.scrollTop = messages.scrollHeight;
}

function isNearBottom() {
  const messages = $("messages");
  return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
}

function formatDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// ---------------------------------------------------------------------------------------------
// Protocol

/** An HTTP error answered by the server as `{"error": {"code", "message"}}`. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function errorFrom(response) {
  let code = "http_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  if (response.status === 401) message = `${message} (set a bearer token in the sidebar)`;
  return new ApiError(response.status, code, message);
}

async function post(type, params, signal) {
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({ type, params }),
    signal,
  });
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** A non-streaming request: its JSON answer. */
async function call(type, params) {
  const response = await post(type, params);
  return response.json();
}

/**
 * Parses `data:` frames out of a byte stream, calling `onEvent` with each JSON event.
 * Comment lines (keep-alives) and other fields are ignored, CRLF is accepted.
 */
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const dispatch = (frame) => {
    const data = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("data:")) {
        data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }
    }
    if (data.length === 0) return;
    let event;
    try {
      event = JSON.parse(data.join("\n"));
    } catch {
      console.warn("playground: a frame that is not JSON was skipped");
      return;
    }
    onEvent(event);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
  buffer += decoder.decode();
  if (buffer.trim()) dispatch(buffer);
}

/**
 * Runs a streaming request, rendering its events. Resolves when the stream ends (or is
 * stopped); shows HTTP and network failures in the banner.
 */
async function runStream(type, params) {
  const controller = new AbortController();
  const stream = { controller, threadId: params.thread_id || null, view: state.view };
  state.stream = stream;
  setStreaming(true);
  hideBanner();
  try {
    const response = await post(type, params, controller.signal);
    await readEvents(response.body, (event) => handleEvent(event, stream));
  } catch (error) {
    if (error.name === "AbortError") {
      markStopped(stream);
    } else {
      showBanner(error.message || String(error));
    }
  } finally {
    finishStreaming(stream);
  }
  return stream;
}

// ---------------------------------------------------------------------------------------------
// Stream events

function handleEvent(event, stream) {
  const visible = stream.view === state.view;
  switch (event.type) {
    case "thread.created":
      stream.threadId = event.thread.id;
      upsertThread(event.thread, true);
      // The new thread keeps the view it was started from: its items stream in below.
      if (visible) openedThread(event.thread);
      break;
    case "thread.updated":
      upsertThread(event.thread, false);
      if (state.thread && state.thread.id === event.thread.id) {
        state.thread = { ...state.thread, ...event.thread, items: undefined };
        renderThreadHeader();
      }
      break;
    case "thread.item.added":
    case "thread.item.done":
    case "thread.item.replaced":
      if (visible) {
        const item = event.item;
        putItem(item, event.type === "thread.item.added");
        if (event.type === "thread.item.done" && item.type === "user_message") {
          stream.userMessageSaved = true;
          clearPendingAfterSend(item);
        }
      }
      break;
    case "thread.item.updated":
      if (visible) applyUpdate(event.item_id, event.update);
      break;
    case "thread.item.removed":
      if (visible) removeItem(event.item_id);
      break;
    case "stream_options":
      stream.allowCancel = Boolean(event.stream_options && event.stream_options.allow_cancel);
      $("stop").title = stream.allowCancel
        ? "Stop: the server keeps what was answered so far"
        : "Stop reading (the server does not allow cancelling this stream)";
      break;
    case "progress_update":
      if (visible) showProgress(event.text);
      break;
    case "notice":
      if (visible) appendNotice(event.level, event.title, event.message);
      break;
    case "error":
      if (visible) appendError(event, stream);
      break;
    case "client_effect":
      if (visible) appendNotice("info", "Client effect", `The server asked for "${event.name}".`);
      break;
    default:
      console.info("playground: unknown event type", event.type);
  }
}

function showProgress(text) {
  $("progress-text").textContent = text || "Working…";
  $("progress").hidden = false;
  if (isNearBottom()) scrollToBottom();
}

function hideProgress() {
  $("progress").hidden = true;
  $("progress-text").textContent = "";
}

function applyUpdate(itemId, update) {
  const entry = state.items.get(itemId);
  if (!entry) return;
  const { item } = entry;
  const follow = isNearBottom();
  switch (update.type) {
    case "assistant_message.content_part.added":
      item.content = item.content || [];
      item.content[update.content_index] = { ...update.content };
      rerender(entry, true);
      break;
    case "assistant_message.content_part.text_delta": {
      item.content = item.content || [];
      const part = item.content[update.content_index] || { type: "output_text", text: "", annotations: [] };
      part.text = (part.text || "") + update.delta;
      item.content[update.content_index] = part;
      // Appending a text node keeps long answers cheap to stream.
      const node = entry.element.querySelector(`[data-content-index="${update.content_index}"] .text`);
      if (node) node.append(document.createTextNode(update.delta));
      else rerender(entry, true);
      break;
    }
    case "assistant_message.content_part.annotation_added": {
      const part = item.content && item.content[update.content_index];
      if (part) {
        part.annotations = part.annotations || [];
        part.annotations[update.annotation_index] = update.annotation;
        rerender(entry, true);
      }
      break;
    }
    case "assistant_message.content_part.done":
      item.content = item.content || [];
      item.content[update.content_index] = update.content;
      rerender(entry, true);
      break;
    case "workflow.task.added":
    case "workflow.task.updated":
      if (item.workflow) {
        item.workflow.tasks = item.workflow.tasks || [];
        item.workflow.tasks[update.task_index] = update.task;
        rerender(entry, true);
      }
      break;
    case "generated_image.updated":
      item.image = update.image;
      rerender(entry, true);
      break;
    default:
      // Widget updates and future kinds: the item is shown again when it is done.
      break;
  }
  if (follow) scrollToBottom();
}

function appendNotice(level, title, message) {
  const box = el("div", `notice notice-${level || "info"}`);
  box.setAttribute("role", "status");
  if (title) box.append(el("strong", null, title));
  box.append(el("span", null, message));
  $("items").append(box);
  scrollToBottom();
}

function appendError(event, stream) {
  const box = el("div", "notice notice-danger stream-error");
  box.setAttribute("role", "alert");
  const message =
    event.message || (event.code === "stream.error" ? "Something went wrong while answering." : "An error occurred.");
  box.append(el("span", null, message));
  const userMessageId = lastUserMessageId();
  const threadId = stream.threadId;
  if (event.allow_retry && userMessageId && threadId) {
    box.append(
      button("Retry", "retry", () => {
        if (state.stream) return;
        removeItemsAfter(userMessageId);
        box.remove();
        runStream("threads.retry_after_item", { thread_id: threadId, item_id: userMessageId });
      }),
    );
  }
  $("items").append(box);
  scrollToBottom();
}

function lastUserMessageId() {
  let last = null;
  for (const [id, entry] of state.items) if (entry.item.type === "user_message") last = id;
  return last;
}

// ---------------------------------------------------------------------------------------------
// Items

/** Adds or replaces an item's element, keeping its place. */
function putItem(item, streaming) {
  const existing = state.items.get(item.id);
  if (existing) {
    existing.item = structuredClone(item);
    rerender(existing, streaming);
    return;
  }
  const entry = { item: structuredClone(item), element: null };
  const element = renderItem(entry.item, streaming);
  if (!element) return;
  entry.element = element;
  state.items.set(item.id, entry);
  $("items").append(element);
  $("empty-thread").hidden = true;
  scrollToBottom();
}

function rerender(entry, streaming) {
  const element = renderItem(entry.item, streaming);
  if (!element) return;
  if (entry.element) entry.element.replaceWith(element);
  entry.element = element;
}

function removeItem(itemId) {
  const entry = state.items.get(itemId);
  if (!entry) return;
  entry.element?.remove();
  state.items.delete(itemId);
}

/** Removes every item rendered after a user message (what a retry replaces). */
function removeItemsAfter(itemId) {
  let after = false;
  for (const [id, entry] of [...state.items]) {
    if (after) {
      entry.element?.remove();
      state.items.delete(id);
    }
    if (id === itemId) after = true;
  }
  $("items").querySelectorAll(".notice").forEach((node) => node.remove());
}

function renderItem(item, streaming) {
  let node;
  switch (item.type) {
    case "user_message":
      node = renderUserMessage(item);
      break;
    case "assistant_message":
      node = renderAssistantMessage(item, streaming);
      break;
    case "workflow":
      node = renderWorkflow(item, streaming);
      break;
    case "task":
      node = el("div", "message tool");
      node.append(renderTask(item.task));
      break;
    case "client_tool_call":
      node = el("div", "message tool");
      node.append(el("span", "muted", `Client tool call: ${item.name} (${item.status})`));
      break;
    case "widget":
      node = el("div", "message assistant widget");
      node.append(el("span", "muted", "A widget (the playground does not draw widgets)."));
      break;
    case "generated_image":
      node = el("div", "message assistant");
      node.append(el("span", "muted", item.image ? "A generated image." : "Generating an image…"));
      break;
    case "structured_input":
      node = el("div", "message assistant");
      node.append(el("span", "muted", "The assistant asks for structured input (not supported here)."));
      break;
    default:
      // end_of_turn and hidden context items are not shown.
      return null;
  }
  node.dataset.itemId = item.id;
  node.dataset.type = item.type;
  if (streaming) node.dataset.streaming = "true";
  return node;
}

function renderUserMessage(item) {
  const node = el("div", "message user");
  const bubble = el("div", "bubble");
  if (item.quoted_text) bubble.append(el("blockquote", "quote", item.quoted_text));
  const text = el("div", "text");
  for (const part of item.content || []) {
    if (part.type === "input_text") text.append(document.createTextNode(part.text));
    else if (part.type === "input_tag") text.append(el("span", "tag", `@${part.text}`));
  }
  bubble.append(text);
  if (item.attachments && item.attachments.length) {
    const list = el("div", "attachments");
    for (const attachment of item.attachments) list.append(renderAttachment(attachment));
    bubble.append(list);
  }
  node.append(bubble);
  return node;
}

function renderAttachment(attachment) {
  const chip = el("div", "attachment");
  if (attachment.type === "image" && attachment.preview_url) {
    const image = el("img", "preview");
    image.alt = attachment.name;
    loadPreview(attachment.preview_url, image);
    chip.append(image);
  } else {
    chip.append(icon("file", "file-icon"));
  }
  chip.append(el("span", "name", attachment.name));
  return chip;
}

/**
 * Shows a preview that may need the bearer token: it is fetched with the token and shown from
 * a blob URL (an <img src> could not send the header, and the policy only allows this origin).
 */
async function loadPreview(url, image) {
  let target;
  try {
    target = new URL(url, location.href);
  } catch {
    return;
  }
  if (target.origin !== location.origin) {
    image.replaceWith(icon("image", "file-icon"));
    return;
  }
  try {
    const response = await fetch(target, { headers: authHeaders() });
    if (!response.ok) throw new Error(String(response.status));
    const blobUrl = URL.createObjectURL(await response.blob());
    state.previewUrls.push(blobUrl);
    image.src = blobUrl;
  } catch {
    image.replaceWith(icon("image", "file-icon"));
  }
}

function renderAssistantMessage(item, streaming) {
  const node = el("div", "message assistant");
  const bubble = el("div", "bubble");
  const content = item.content || [];
  content.forEach((part, index) => {
    if (!part) return;
    const block = el("div", "part");
    block.dataset.contentIndex = String(index);
    block.append(el("div", "text", part.text || ""));
    const sources = (part.annotations || []).map((annotation) => annotation && annotation.source).filter(Boolean);
    if (sources.length) {
      const list = el("ol", "sources");
      for (const source of sources) list.append(el("li", null, source.title || source.url || source.filename || "source"));
      block.append(list);
    }
    bubble.append(block);
  });
  if (streaming) bubble.append(el("span", "cursor", "▍"));
  node.append(bubble);
  if (!streaming && content.length) node.append(renderFeedback(item));
  return node;
}

function renderFeedback(item) {
  const bar = el("div", "feedback");
  const send = async (kind, chosen) => {
    const threadId = item.thread_id || state.thread?.id;
    if (!threadId) return;
    try {
      await call("items.feedback", { thread_id: threadId, item_ids: [item.id], kind });
      bar.querySelectorAll("button").forEach((b) => b.classList.remove("chosen"));
      chosen.classList.add("chosen");
      chosen.setAttribute("aria-pressed", "true");
    } catch (error) {
      showBanner(`Feedback was not saved: ${error.message}`);
    }
  };
  const up = button(icon("thumb"), "thumb", () => send("positive", up), "Good answer");
  const down = button(icon("thumb", "flip"), "thumb", () => send("negative", down), "Bad answer");
  bar.append(up, down);
  return bar;
}

function renderWorkflow(item, streaming) {
  const workflow = item.workflow || { tasks: [] };
  const node = el("div", "message tool");
  const details = el("details", "workflow");
  details.open = Boolean(workflow.expanded) || streaming;
  let title;
  const summary = workflow.summary;
  if (summary && summary.title) title = summary.title;
  else if (summary && typeof summary.duration === "number") title = `Thought for ${summary.duration}s`;
  else title = workflow.type === "reasoning" ? "Thinking…" : "Working…";
  const head = el("summary", null);
  if (streaming && !summary) head.append(el("span", "spinner", ""));
  head.append(el("span", null, title));
  details.append(head);
  const list = el("ol", "tasks");
  for (const task of workflow.tasks || []) if (task) list.append(renderTask(task, "li"));
  details.append(list);
  node.append(details);
  return node;
}

function renderTask(task, tag = "div") {
  const node = el(tag, "task");
  const indicator = task.status_indicator || "none";
  node.dataset.status = indicator;
  const status = el("span", `status status-${indicator}`);
  status.setAttribute("aria-label", indicator === "complete" ? "done" : indicator === "loading" ? "running" : "");
  if (indicator === "complete") status.textContent = "✓";
  node.append(status);
  const body = el("div", "task-body");
  let title = task.title;
  if (!title && task.type === "web_search") title = task.title_query ? `Searched “${task.title_query}”` : "Web search";
  if (!title && task.type === "thought") title = "Thought";
  if (!title && task.type === "file") title = "Files";
  if (!title && task.type === "image") title = "Image";
  body.append(el("div", "task-title", title || "Task"));
  if (task.content) body.append(el("div", "task-content", task.content));
  if (task.type === "web_search" && task.queries && task.queries.length) {
    body.append(el("div", "task-content", task.queries.join(" · ")));
  }
  if ((task.type === "web_search" || task.type === "file") && task.sources && task.sources.length) {
    const list = el("ul", "sources");
    for (const source of task.sources) list.append(el("li", null, source.title || source.url || source.filename || "source"));
    body.append(list);
  }
  node.append(body);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Threads

function threadLabel(thread) {
  return thread.title || `Untitled · ${formatDate(thread.created_at)}`;
}

function renderThreadList() {
  const list = $("thread-list");
  list.replaceChildren();
  for (const thread of state.threads) {
    const entry = el("li", null);
    const link = el("button", "thread-link", threadLabel(thread));
    link.type = "button";
    link.dataset.threadId = thread.id;
    link.title = thread.id;
    if (state.thread && state.thread.id === thread.id) {
      link.classList.add("active");
      link.setAttribute("aria-current", "true");
    }
    link.addEventListener("click", () => openThread(thread.id));
    entry.append(link);
    list.append(entry);
  }
  $("thread-list-empty").hidden = state.threads.length > 0;
  $("load-more-threads").hidden = !state.threadsHasMore;
}

function upsertThread(thread, toTop) {
  const summary = { id: thread.id, title: thread.title, created_at: thread.created_at, status: thread.status };
  const index = state.threads.findIndex((known) => known.id === thread.id);
  if (index === -1) {
    if (toTop) state.threads.unshift(summary);
    else return;
  } else {
    state.threads[index] = { ...state.threads[index], ...summary };
  }
  renderThreadList();
}

async function loadThreads(more = false) {
  try {
    const params = { limit: THREAD_PAGE_SIZE, order: "desc" };
    if (more && state.threadsAfter) params.after = state.threadsAfter;
    const page = await call("threads.list", params);
    const threads = (page.data || []).map((t) => ({ id: t.id, title: t.title, created_at: t.created_at, status: t.status }));
    state.threads = more ? state.threads.concat(threads.filter((t) => !state.threads.some((k) => k.id === t.id))) : threads;
    state.threadsHasMore = Boolean(page.has_more);
    state.threadsAfter = page.after || (threads.length ? threads[threads.length - 1].id : null);
    renderThreadList();
  } catch (error) {
    showBanner(`Threads could not be listed: ${error.message}`);
  }
}

function renderThreadHeader() {
  const thread = state.thread;
  $("thread-title").textContent = thread ? threadLabel(thread) : "New thread";
  $("rename-thread").disabled = !thread;
  $("delete-thread").disabled = !thread;
  resetDeleteButton();
  const status = thread && thread.status && thread.status.type;
  const closed = status === "locked" || status === "closed";
  $("message").disabled = closed;
  $("message").placeholder = closed
    ? `This thread is ${status}${thread.status.reason ? `: ${thread.status.reason}` : ""}.`
    : "Message the assistant (Enter to send, Shift+Enter for a new line)";
  document.title = thread ? `${threadLabel(thread)} · ChatKit playground` : "ChatKit playground";
}

/** Clears the thread view (for a switch or a new thread). */
function resetView() {
  state.view += 1;
  state.items.clear();
  state.olderAfter = null;
  for (const url of state.previewUrls) URL.revokeObjectURL(url);
  state.previewUrls = [];
  $("items").replaceChildren();
  $("load-older").hidden = true;
  $("empty-thread").hidden = false;
  hideProgress();
  hideBanner();
  cancelRename();
}

function openedThread(thread) {
  state.thread = { id: thread.id, title: thread.title, created_at: thread.created_at, status: thread.status };
  if (location.hash !== `#${thread.id}`) history.replaceState(null, "", `#${thread.id}`);
  renderThreadHeader();
  renderThreadList();
}

function newThread() {
  resetView();
  state.thread = null;
  history.replaceState(null, "", location.pathname + location.search);
  renderThreadHeader();
  renderThreadList();
  $("message").focus();
}

async function openThread(threadId) {
  resetView();
  const view = state.view;
  try {
    const thread = await call("threads.get_by_id", { thread_id: threadId });
    if (view !== state.view) return;
    openedThread(thread);
    let items = thread.items?.data || [];
    if (thread.items?.has_more) {
      // The first page holds the oldest items; show the newest instead, older ones on demand.
      const page = await call("items.list", { thread_id: threadId, limit: ITEM_PAGE_SIZE, order: "desc" });
      if (view !== state.view) return;
      items = (page.data || []).slice().reverse();
      state.olderAfter = page.has_more ? page.after || page.data[page.data.length - 1]?.id : null;
    }
    for (const item of items) putItem(item, false);
    $("load-older").hidden = !state.olderAfter;
    $("empty-thread").hidden = state.items.size > 0;
    scrollToBottom();
  } catch (error) {
    if (view !== state.view) return;
    if (error.status === 404) {
      showBanner("This thread does not exist (or is not yours).");
      newThread();
    } else {
      showBanner(`The thread could not be opened: ${error.message}`);
    }
  }
}

async function loadOlder() {
  const thread = state.thread;
  if (!thread || !state.olderAfter) return;
  const view = state.view;
  const loadOlderButton = $("load-older");
  loadOlderButton.disabled = true;
  try {
    const page = await call("items.list", { thread_id: thread.id, limit: ITEM_PAGE_SIZE, order: "desc", after: state.olderAfter });
    if (view !== state.view) return;
    const container = $("items");
    const messages = $("messages");
    const fromBottom = messages.scrollHeight - messages.scrollTop;
    // Older items go on top, oldest first; the reading position is kept.
    const entries = [];
    for (const item of (page.data || []).slice().reverse()) {
      if (state.items.has(item.id)) continue;
      const element = renderItem(item, false);
      if (!element) continue;
      entries.push([item.id, { item: structuredClone(item), element }]);
    }
    container.prepend(...entries.map(([, entry]) => entry.element));
    state.items = new Map([...entries, ...state.items]);
    state.olderAfter = page.has_more ? page.after || page.data[page.data.length - 1]?.id : null;
    $("load-older").hidden = !state.olderAfter;
    messages.scrollTop = messages.scrollHeight - fromBottom;
  } catch (error) {
    showBanner(`Older messages could not be loaded: ${error.message}`);
  } finally {
    loadOlderButton.disabled = false;
  }
}

function startRename() {
  if (!state.thread) return;
  $("rename-input").value = state.thread.title || "";
  $("thread-title").hidden = true;
  $("rename-form").hidden = false;
  $("rename-input").focus();
  $("rename-input").select();
}

function cancelRename() {
  $("rename-form").hidden = true;
  $("thread-title").hidden = false;
}

async function submitRename(event) {
  event.preventDefault();
  const thread = state.thread;
  const title = $("rename-input").value.trim();
  if (!thread || !title) return;
  try {
    const updated = await call("threads.update", { thread_id: thread.id, title });
    state.thread = { ...state.thread, title: updated.title };
    upsertThread(updated, false);
    renderThreadHeader();
    cancelRename();
  } catch (error) {
    showBanner(`The thread could not be renamed: ${error.message}`);
  }
}

let deleteArmed = false;

function resetDeleteButton() {
  deleteArmed = false;
  $("delete-thread").textContent = "Delete";
}

async function deleteThread() {
  const thread = state.thread;
  if (!thread) return;
  // Two clicks: a native confirm() would block the page and any stream it is reading.
  if (!deleteArmed) {
    deleteArmed = true;
    $("delete-thread").textContent = "Click again to delete";
    return;
  }
  resetDeleteButton();
  try {
    await call("threads.delete", { thread_id: thread.id });
    state.threads = state.threads.filter((known) => known.id !== thread.id);
    newThread();
  } catch (error) {
    showBanner(`The thread could not be deleted: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Composer and attachments

function setStreaming(streaming) {
  $("send").hidden = streaming;
  $("stop").hidden = !streaming;
  $("stop").disabled = false;
  document.body.dataset.streaming = streaming ? "true" : "false";
  updateSendButton();
}

function finishStreaming(stream) {
  if (state.stream !== stream) return;
  state.stream = null;
  hideProgress();
  // Anything still marked as streaming (the stream ended early) is shown as it stands.
  for (const entry of state.items.values()) {
    if (entry.element && entry.element.dataset.streaming) rerender(entry, false);
  }
  setStreaming(false);
  if (stream.view === state.view) $("message").focus();
}

function markStopped(stream) {
  if (stream.view !== state.view) return;
  for (const entry of state.items.values()) {
    if (entry.element && entry.element.dataset.streaming && entry.item.type === "assistant_message") {
      rerender(entry, false);
      entry.element.classList.add("stopped");
      entry.element.append(el("div", "muted small", "Stopped. The server keeps what was answered so far."));
    }
  }
}

function updateSendButton() {
  const uploading = state.pending.some((p) => p.status === "uploading");
  const failed = state.pending.some((p) => p.status === "failed");
  const text = $("message").value.trim();
  $("send").disabled = Boolean(state.stream) || uploading || failed || (!text && state.pending.length === 0);
}

async function send(event) {
  event?.preventDefault();
  if (state.stream) return;
  const text = $("message").value.trim();
  if (!text && state.pending.length === 0) return;
  if (state.pending.some((p) => p.status !== "ready")) return;
  const input = {
    content: text ? [{ type: "input_text", text }] : [],
    attachments: state.pending.map((p) => p.attachment.id),
    inference_options: {},
  };
  $("message").value = "";
  updateSendButton();
  const stream = state.thread
    ? await runStream("threads.add_user_message", { thread_id: state.thread.id, input })
    : await runStream("threads.create", { input });
  // Refused before the message was saved (a 401, a network failure): give the text back.
  if (!stream.userMessageSaved && !$("message").value) {
    $("message").value = text;
    updateSendButton();
  }
}

/** The message carrying the pending attachments was saved: they now belong to it. */
function clearPendingAfterSend(item) {
  const sent = new Set((item.attachments || []).map((a) => a.id));
  for (const pending of [...state.pending]) {
    if (pending.attachment && sent.has(pending.attachment.id)) {
      pending.element.remove();
      if (pending.objectUrl) URL.revokeObjectURL(pending.objectUrl);
      state.pending = state.pending.filter((p) => p !== pending);
    }
  }
  updateSendButton();
}

function renderPending(pending) {
  const chip = el("li", "attachment pending");
  chip.dataset.status = pending.status;
  if (pending.objectUrl) {
    const image = el("img", "preview");
    image.alt = pending.file.name;
    image.src = pending.objectUrl;
    chip.append(image);
  } else {
    chip.append(icon("file", "file-icon"));
  }
  chip.append(el("span", "name", pending.file.name));
  const label = { uploading: "uploading…", ready: "", failed: "upload failed" }[pending.status] || "";
  if (label) chip.append(el("span", "muted small", label));
  chip.append(button("×", "remove", () => removePending(pending), `Remove ${pending.file.name}`));
  if (pending.element) pending.element.replaceWith(chip);
  else $("pending-attachments").append(chip);
  pending.element = chip;
  updateSendButton();
}

async function removePending(pending) {
  state.pending = state.pending.filter((p) => p !== pending);
  pending.element?.remove();
  if (pending.objectUrl) URL.revokeObjectURL(pending.objectUrl);
  updateSendButton();
  if (pending.attachment) {
    try {
      await call("attachments.delete", { attachment_id: pending.attachment.id });
    } catch {
      // The attachment was never sent; the server may clean it up later.
    }
  }
}

/** Two-phase upload: `attachments.create`, then the bytes to the upload descriptor's URL. */
async function upload(file) {
  const pending = {
    file,
    status: "uploading",
    attachment: null,
    objectUrl: file.type.startsWith("image/") ? URL.createObjectURL(file) : null,
    element: null,
  };
  state.pending.push(pending);
  renderPending(pending);
  try {
    const attachment = await call("attachments.create", {
      name: file.name,
      size: file.size,
      mime_type: file.type || "application/octet-stream",
    });
    pending.attachment = attachment;
    const descriptor = attachment.upload_descriptor;
    if (descriptor) {
      const target = new URL(descriptor.url, location.href);
      if (target.origin !== location.origin) {
        throw new Error(`the upload URL is on another origin (${target.origin}), which this page may not call`);
      }
      const method = descriptor.method || "PUT";
      const headers = { ...(descriptor.headers || {}), ...authHeaders() };
      let body;
      if (method === "POST") {
        body = new FormData();
        body.append("file", file, file.name);
      } else {
        headers["Content-Type"] = file.type || "application/octet-stream";
        body = file;
      }
      const response = await fetch(target, { method, headers, body });
      if (!response.ok) throw await errorFrom(response);
    }
    if (!state.pending.includes(pending)) return;
    pending.status = "ready";
  } catch (error) {
    if (!state.pending.includes(pending)) return;
    pending.status = "failed";
    showBanner(`${file.name} could not be uploaded: ${error.message}`);
  }
  renderPending(pending);
}

// ---------------------------------------------------------------------------------------------
// Token

function renderTokenState() {
  $("token-state").textContent = state.token ? "A token is saved in this browser." : "No token: requests are sent without one.";
}

function saveToken(event) {
  event.preventDefault();
  state.token = $("token").value.trim();
  if (state.token) localStorage.setItem(TOKEN_KEY, state.token);
  else localStorage.removeItem(TOKEN_KEY);
  renderTokenState();
  hideBanner();
  loadThreads();
  if (state.thread) openThread(state.thread.id);
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  $("token").value = state.token;
  renderTokenState();
  $("token-form").addEventListener("submit", saveToken);
  $("new-thread").addEventListener("click", () => {
    if (!state.stream) newThread();
  });
  $("load-more-threads").addEventListener("click", () => loadThreads(true));
  $("load-older").addEventListener("click", loadOlder);
  $("rename-thread").addEventListener("click", startRename);
  $("rename-cancel").addEventListener("click", cancelRename);
  $("rename-form").addEventListener("submit", submitRename);
  $("rename-input").addEventListener("keydown", (event) => {
    if (event.key === "Escape") cancelRename();
  });
  $("delete-thread").addEventListener("click", deleteThread);
  $("delete-thread").addEventListener("blur", resetDeleteButton);
  $("banner-close").addEventListener("click", hideBanner);
  $("composer").addEventListener("submit", send);
  $("message").addEventListener("input", updateSendButton);
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
  });
  $("stop").addEventListener("click", () => {
    if (!state.stream) return;
    $("stop").disabled = true;
    state.stream.controller.abort();
  });
  $("attach").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", () => {
    for (const file of $("file-input").files) upload(file);
    $("file-input").value = "";
  });
  renderThreadHeader();
  updateSendButton();
  loadThreads();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) openThread(fromHash);
  document.body.dataset.ready = "true";
}

start();
