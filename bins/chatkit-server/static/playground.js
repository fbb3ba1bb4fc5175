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
    case "widget.root.updated":
    case "widget.component.updated":
    case "widget.streaming_text.value_delta":
      if (item.widget && applyWidgetUpdate(item, update)) rerender(entry, true);
      break;
    default:
      // Future kinds: the item is shown again when it is done.
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
      node = renderWidgetItem(item);
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
    const { text, sources } = renderAnnotatedText(part);
    block.append(text);
    if (sources.length) {
      const list = el("ol", "sources");
      for (const source of sources) list.append(sourceItem(source, "li"));
      block.append(list);
    }
    bubble.append(block);
  });
  if (streaming) bubble.append(el("span", "cursor", "▍"));
  node.append(bubble);
  if (!streaming && content.length) node.append(renderFeedback(item));
  return node;
}

// Citations: an annotation marks the point of the text (a position in Unicode code points, as
// the reference's Python strings count) where a source supports it. Each distinct source gets a
// number; the text shows [n] there, and the list under the message names the sources.

/** Where a source can be opened: its URL when it is a web or same-origin address, else none. */
function sourceHref(source) {
  const url = source && source.type === "url" && typeof source.url === "string" ? source.url : "";
  if (/^https?:\/\//i.test(url)) return url;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  return null;
}

/** What a source is called: its title, else its file name or URL. */
function sourceLabel(source) {
  return (source && (source.title || source.filename || source.url)) || "source";
}

/** A source as a list entry (or any `tag`): a link when it can be opened, its title otherwise. */
function sourceItem(source, tag) {
  const node = el(tag, "source");
  const href = sourceHref(source);
  if (href) {
    const link = el("a", null, sourceLabel(source));
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    if (source.description) link.title = source.description;
    node.append(link);
  } else {
    node.append(el("span", null, sourceLabel(source)));
    if (source && source.description) node.title = source.description;
  }
  return node;
}

/** A source's identity, so that two annotations of one document share a number. */
function sourceKey(source) {
  return JSON.stringify([source.type, source.url || source.filename || "", source.title || ""]);
}

/**
 * The text of an output part with a numbered citation at each annotation, and the distinct
 * sources in number order.
 */
function renderAnnotatedText(part) {
  const text = el("div", "text");
  const chars = Array.from(part.text || "");
  const numbers = new Map();
  const sources = [];
  const marks = [];
  for (const annotation of part.annotations || []) {
    if (!annotation || !annotation.source) continue;
    const key = sourceKey(annotation.source);
    if (!numbers.has(key)) {
      numbers.set(key, sources.length + 1);
      sources.push(annotation.source);
    }
    const index = Number.isInteger(annotation.index) ? Math.min(Math.max(annotation.index, 0), chars.length) : chars.length;
    marks.push({ index, number: numbers.get(key), source: annotation.source });
  }
  marks.sort((a, b) => a.index - b.index);
  let at = 0;
  for (const mark of marks) {
    if (mark.index > at) text.append(document.createTextNode(chars.slice(at, mark.index).join("")));
    at = Math.max(at, mark.index);
    const href = sourceHref(mark.source);
    const citation = el(href ? "a" : "span", "citation", `[${mark.number}]`);
    citation.dataset.citation = String(mark.number);
    citation.title = sourceLabel(mark.source);
    if (href) {
      citation.href = href;
      citation.target = "_blank";
      citation.rel = "noopener noreferrer";
    }
    text.append(citation);
  }
  if (at < chars.length) text.append(document.createTextNode(chars.slice(at).join("")));
  return { text, sources };
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
    for (const source of task.sources) list.append(sourceItem(source, "li"));
    body.append(list);
  }
  node.append(body);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Widgets
//
// A ChatKit widget is a JSON tree of components. They are drawn here with plain DOM nodes and
// CSS classes named after the component (`wk-Card`, `wk-Text`...), close to how ChatKit draws
// them. Text only ever goes through textContent (Markdown included: it is parsed into nodes),
// colors and sizes only through known tokens or validated CSS values. Actions go to the server
// as `threads.custom_action` (a stream) or, when the action says `streaming: false`,
// `threads.sync_custom_action` (the answer replaces the widget).

const WIDGET_SPACING = 4; // ChatKit's spacing unit, in pixels: `gap: 3` is 12px.

/** A length: numbers are spacing units for gaps/padding, pixels for sizes; strings pass if safe. */
function cssLength(value, unit = 1) {
  if (typeof value === "number" && Number.isFinite(value)) return `${value * unit}px`;
  if (typeof value === "string" && /^-?[0-9.]+(px|%|rem|em|vh|vw)?$|^auto$/.test(value)) return value;
  return null;
}

/** A color: ChatKit tokens become CSS variables; plain hex/rgb colors pass. */
function cssColor(value) {
  if (!value) return null;
  if (typeof value === "object") value = matchMedia("(prefers-color-scheme: dark)").matches ? value.dark : value.light;
  if (typeof value !== "string") return null;
  if (/^#[0-9a-fA-F]{3,8}$|^rgba?\([0-9., %]+\)$/.test(value)) return value;
  if (/^[a-z]+(-[a-z0-9]+)*$/.test(value)) return `var(--wk-${value}, var(--${value}, inherit))`;
  return null;
}

function applySpacing(node, props, name, property) {
  const value = props[name];
  if (value === undefined || value === null) return;
  if (typeof value === "object") {
    const sides = { top: "Top", bottom: "Bottom", left: "Left", right: "Right" };
    for (const [side, suffix] of Object.entries(sides)) {
      const length = cssLength(value[side], WIDGET_SPACING);
      if (length) node.style[`${property}${suffix}`] = length;
    }
    const x = cssLength(value.x, WIDGET_SPACING);
    const y = cssLength(value.y, WIDGET_SPACING);
    if (x) node.style[`${property}Left`] = node.style[`${property}Right`] = x;
    if (y) node.style[`${property}Top`] = node.style[`${property}Bottom`] = y;
    return;
  }
  const length = cssLength(value, WIDGET_SPACING);
  if (length) node.style[property] = length;
}

const ALIGN = { start: "flex-start", end: "flex-end", center: "center", stretch: "stretch", baseline: "baseline" };
const JUSTIFY = { ...ALIGN, between: "space-between", around: "space-around", evenly: "space-evenly" };

/** Box-like props shared by Box, Row, Col, Card, ListViewItem and Form. */
function applyBox(node, props) {
  if (props.gap !== undefined) node.style.gap = cssLength(props.gap, WIDGET_SPACING) || "";
  if (props.align) node.style.alignItems = ALIGN[props.align] || "";
  if (props.justify) node.style.justifyContent = JUSTIFY[props.justify] || "";
  if (props.wrap) node.style.flexWrap = props.wrap === true ? "wrap" : String(props.wrap).replace(/[^a-z-]/g, "");
  if (props.flex !== undefined) node.style.flex = String(props.flex).replace(/[^0-9a-z .%-]/g, "");
  applySpacing(node, props, "padding", "padding");
  applySpacing(node, props, "margin", "margin");
  for (const key of ["width", "height", "minWidth", "maxWidth", "minHeight", "maxHeight"]) {
    const length = cssLength(props[key]);
    if (length) node.style[key] = length;
  }
  if (props.size !== undefined && typeof props.size !== "string") {
    const length = cssLength(props.size);
    if (length) node.style.width = node.style.height = length;
  }
  const background = cssColor(props.background);
  if (background) node.style.background = background;
  if (props.radius) node.classList.add(`wk-radius-${String(props.radius).replace(/[^a-z0-9]/g, "")}`);
  if (props.border) {
    const border = typeof props.border === "object" ? props.border : { size: props.border };
    const size = typeof border.size === "number" ? border.size : 1;
    node.style.border = `${size}px ${border.style === "dashed" ? "dashed" : "solid"} ${cssColor(border.color) || "var(--border)"}`;
  }
}

/** Text props shared by Text, Title, Caption and Markdown. */
function applyText(node, props) {
  const color = cssColor(props.color);
  if (color) node.style.color = color;
  if (props.size) node.classList.add(`wk-size-${String(props.size).replace(/[^a-z0-9]/g, "")}`);
  if (props.weight) node.classList.add(`wk-weight-${String(props.weight).replace(/[^a-z]/g, "")}`);
  if (props.textAlign) node.style.textAlign = String(props.textAlign).replace(/[^a-z]/g, "");
  if (props.italic) node.style.fontStyle = "italic";
  if (props.lineThrough) node.style.textDecoration = "line-through";
  if (props.truncate) node.classList.add("wk-truncate");
  if (typeof props.maxLines === "number") {
    node.classList.add("wk-clamp");
    node.style.webkitLineClamp = String(props.maxLines);
  }
}

/** Inline Markdown (`**bold**`, `*em*`, `` `code` ``, `[text](https)`) as nodes. */
function markdownInline(text, parent) {
  const pattern = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`|\[[^\]]+\]\([^)\s]+\))/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    const token = match[0];
    if (token.startsWith("**")) parent.append(el("strong", null, token.slice(2, -2)));
    else if (token.startsWith("`")) parent.append(el("code", null, token.slice(1, -1)));
    else if (token.startsWith("[")) {
      const [, label, href] = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(token);
      if (/^https?:\/\//.test(href)) {
        const link = el("a", null, label);
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        parent.append(link);
      } else parent.append(document.createTextNode(label));
    } else parent.append(el("em", null, token.slice(1, -1)));
    last = match.index + token.length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

/** Block Markdown: headings, bullet and numbered lists, code fences, paragraphs. */
function markdownBlocks(text, parent) {
  const lines = String(text || "").split("\n");
  let list = null;
  let paragraph = null;
  let code = null;
  for (const line of lines) {
    if (line.startsWith("```")) {
      if (code) {
        code = null;
      } else {
        code = el("code");
        const pre = el("pre");
        pre.append(code);
        parent.append(pre);
        list = paragraph = null;
      }
      continue;
    }
    if (code) {
      code.append(document.createTextNode(`${code.textContent ? "\n" : ""}${line}`));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (heading) {
      const node = el(`h${Math.min(heading[1].length + 2, 6)}`);
      markdownInline(heading[2], node);
      parent.append(node);
      list = paragraph = null;
    } else if (bullet || numbered) {
      const tag = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = el(tag);
        parent.append(list);
      }
      const item = el("li");
      markdownInline((bullet || numbered)[1], item);
      list.append(item);
      paragraph = null;
    } else if (!line.trim()) {
      list = paragraph = null;
    } else {
      if (!paragraph) {
        paragraph = el("p");
        parent.append(paragraph);
      } else paragraph.append(document.createTextNode(" "));
      markdownInline(line, paragraph);
      list = null;
    }
  }
}

/** The values of the named controls inside `root` (a form), as ChatKit sends them. */
function formValues(root) {
  const values = {};
  for (const control of root.querySelectorAll("[data-wk-name]")) {
    const name = control.dataset.wkName;
    if (control.type === "checkbox") values[name] = control.checked;
    else if (control.type === "radio") {
      if (control.checked) values[name] = control.value;
    } else values[name] = control.value;
  }
  return values;
}

/**
 * Sends a widget action. `context` holds the widget item's id and the node that shows loading.
 * `extra` (form values, a control's new value) is merged into the payload.
 */
async function sendWidgetAction(config, context, extra) {
  if (!config || !config.type) return;
  const payload =
    extra && (config.payload === undefined || config.payload === null || typeof config.payload === "object")
      ? { ...(config.payload || {}), ...extra }
      : config.payload;
  const action = { type: config.type, payload };
  if (config.handler === "client") {
    appendNotice("info", "Client action", `The widget asked the page to handle "${config.type}".`);
    return;
  }
  const threadId = state.thread?.id;
  if (!threadId) return;
  if (state.stream) {
    showBanner("Wait for the answer to finish before using the widget.");
    return;
  }
  const params = { thread_id: threadId, item_id: context.itemId, action };
  const loading = config.loadingBehavior === "none" ? null : context.loadingNode;
  loading?.classList.add("wk-loading");
  loading?.setAttribute("aria-busy", "true");
  try {
    if (config.streaming === false) {
      const answer = await call("threads.sync_custom_action", params);
      if (answer && answer.updated_item) putItem(answer.updated_item, false);
    } else {
      await runStream("threads.custom_action", params);
    }
  } catch (error) {
    showBanner(`The action failed: ${error.message || error}`);
  } finally {
    loading?.classList.remove("wk-loading");
    loading?.removeAttribute("aria-busy");
  }
}

/** A control bound to a form field name, with an optional change action. */
function bindControl(control, props, context, valueOf) {
  if (props.name) {
    control.name = props.name;
    control.dataset.wkName = props.name;
  }
  if (props.disabled) control.disabled = true;
  if (props.required) control.required = true;
  if (props.onChangeAction) {
    control.addEventListener("change", () => {
      const extra = props.name ? { [props.name]: valueOf() } : undefined;
      sendWidgetAction(props.onChangeAction, { ...context, loadingNode: control.closest(".wk-ListViewItem, .wk-Card, .wk-ListView") || control }, extra);
    });
  }
}

const WIDGET_ICONS = {
  check: ["M5 12l5 5 9-10"],
  "check-circle": ["M12 3a9 9 0 1 0 0.01 0", "M8 12l3 3 5-6"],
  "check-circle-filled": ["M12 3a9 9 0 1 0 0.01 0", "M8 12l3 3 5-6"],
  plus: ["M12 5v14", "M5 12h14"],
  "chevron-right": ["M9 6l6 6-6 6"],
  "chevron-left": ["M15 6l-6 6 6 6"],
  info: ["M12 3a9 9 0 1 0 0.01 0", "M12 11v6", "M12 7.5v.5"],
  search: ["M11 4a7 7 0 1 0 0.01 0", "M16 16l5 5"],
  calendar: ["M4 6h16v14H4z", "M4 10h16", "M8 3v5", "M16 3v5"],
  star: ["M12 3l2.7 5.6 6.1.9-4.4 4.3 1 6.1L12 17l-5.4 2.9 1-6.1L3.2 9.5l6.1-.9z"],
  sparkle: ["M12 3v6", "M12 15v6", "M3 12h6", "M15 12h6"],
  "external-link": ["M14 4h6v6", "M20 4l-9 9", "M18 14v6H4V6h6"],
  user: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8", "M4 21a8 8 0 0 1 16 0"],
  write: ["M4 20h4L19 9l-4-4L4 16z"],
  empty: [],
};

function widgetIcon(name, props = {}) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon wk-Icon");
  svg.dataset.name = String(name || "");
  const paths = WIDGET_ICONS[name] || ["M12 9a3 3 0 1 0 0.01 0"];
  for (const d of paths) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  const color = cssColor(props.color);
  if (color) svg.style.color = color;
  const size = { xs: 12, sm: 14, md: 16, lg: 20, xl: 24, "2xl": 28, "3xl": 32 }[props.size];
  if (size) svg.style.width = svg.style.height = `${size}px`;
  return svg;
}

function renderWidgetChildren(node, component, context) {
  const children = Array.isArray(component.children)
    ? component.children
    : component.children && typeof component.children === "object"
      ? [component.children]
      : [];
  for (const child of children) {
    const rendered = renderWidgetNode(child, context);
    if (rendered) node.append(rendered);
  }
}

function statusHeader(status) {
  if (!status || !status.text) return null;
  const head = el("div", "wk-status");
  if (status.icon) head.append(widgetIcon(status.icon, { size: "sm" }));
  head.append(el("span", null, status.text));
  return head;
}

/** Draws one component (and its children). Unknown components show their type, muted. */
function renderWidgetNode(component, context) {
  if (!component || typeof component !== "object") return null;
  const type = String(component.type || "");
  let node;
  switch (type) {
    case "Card":
    case "Basic": {
      node = el(component.asForm ? "form" : "div", `wk-${type} wk-col`);
      if (type === "Card") node.classList.add(`wk-card-${String(component.size || "md").replace(/[^a-z]/g, "")}`);
      const head = statusHeader(component.status);
      if (head) node.append(head);
      applyBox(node, component);
      renderWidgetChildren(node, component, context);
      if (component.confirm || component.cancel) {
        const actions = el("div", "wk-card-actions wk-row");
        if (component.cancel) {
          actions.append(button(component.cancel.label || "Cancel", "wk-Button wk-secondary", () => sendWidgetAction(component.cancel.action, { ...context, loadingNode: node })));
        }
        if (component.confirm) {
          actions.append(
            button(component.confirm.label || "Confirm", "wk-Button wk-primary", () =>
              sendWidgetAction(component.confirm.action, { ...context, loadingNode: node }, component.asForm ? formValues(node) : undefined),
            ),
          );
        }
        node.append(actions);
      }
      if (component.asForm) node.addEventListener("submit", (event) => event.preventDefault());
      break;
    }
    case "ListView": {
      node = el("div", "wk-ListView");
      const head = statusHeader(component.status);
      if (head) node.append(head);
      const items = Array.isArray(component.children) ? component.children : [];
      const limit = typeof component.limit === "number" ? component.limit : Infinity;
      items.forEach((child, index) => {
        const rendered = renderWidgetNode(child, context);
        if (!rendered) return;
        if (index >= limit) rendered.hidden = true;
        node.append(rendered);
      });
      if (items.length > limit) {
        const more = button(`Show ${items.length - limit} more`, "wk-show-more", () => {
          node.querySelectorAll(".wk-ListViewItem[hidden]").forEach((hidden) => (hidden.hidden = false));
          more.remove();
        });
        node.append(more);
      }
      break;
    }
    case "ListViewItem":
      node = el("div", "wk-ListViewItem wk-row");
      applyBox(node, component);
      renderWidgetChildren(node, component, context);
      if (component.onClickAction) {
        node.classList.add("wk-clickable");
        node.tabIndex = 0;
        node.addEventListener("click", () => sendWidgetAction(component.onClickAction, { ...context, loadingNode: node }));
      }
      break;
    case "Row":
    case "Col":
    case "Box":
      node = el("div", `wk-${type} ${type === "Row" || component.direction === "row" ? "wk-row" : "wk-col"}`);
      applyBox(node, component);
      renderWidgetChildren(node, component, context);
      break;
    case "Form":
      node = el("form", "wk-Form wk-col");
      applyBox(node, component);
      renderWidgetChildren(node, component, context);
      node.addEventListener("submit", (event) => {
        event.preventDefault();
        sendWidgetAction(component.onSubmitAction, { ...context, loadingNode: node }, formValues(node));
      });
      break;
    case "Text":
      node = el(component.editable ? "span" : "p", "wk-Text", component.value);
      applyText(node, component);
      if (component.id) node.dataset.wkId = component.id;
      if (component.streaming) node.dataset.streaming = "true";
      break;
    case "Title":
      node = el("h3", "wk-Title", component.value);
      applyText(node, component);
      break;
    case "Caption":
      node = el("p", "wk-Caption", component.value);
      applyText(node, component);
      break;
    case "Markdown":
      node = el("div", "wk-Markdown");
      markdownBlocks(component.value, node);
      if (component.id) node.dataset.wkId = component.id;
      if (component.streaming) node.dataset.streaming = "true";
      break;
    case "Badge": {
      node = el("span", `wk-Badge wk-badge-${String(component.color || "secondary").replace(/[^a-z]/g, "")}`, component.label);
      if (component.variant) node.classList.add(`wk-variant-${String(component.variant).replace(/[^a-z]/g, "")}`);
      if (component.pill) node.classList.add("wk-pill");
      break;
    }
    case "Button": {
      const style = component.style === "secondary" || component.variant === "outline" || component.variant === "ghost" ? "wk-secondary" : "wk-primary";
      node = el("button", `wk-Button ${style}`);
      node.type = component.submit ? "submit" : "button";
      if (component.iconStart) node.append(widgetIcon(component.iconStart));
      if (component.label) node.append(el("span", null, component.label));
      if (component.iconEnd) node.append(widgetIcon(component.iconEnd));
      if (component.block) node.classList.add("wk-block");
      if (component.disabled) node.disabled = true;
      if (component.onClickAction && !component.submit) {
        node.addEventListener("click", () => {
          const form = node.closest("form");
          sendWidgetAction(component.onClickAction, { ...context, loadingNode: node }, form ? formValues(form) : undefined);
        });
      }
      break;
    }
    case "Checkbox": {
      node = el("label", "wk-Checkbox");
      const box = el("input");
      box.type = "checkbox";
      box.checked = Boolean(component.defaultChecked);
      bindControl(box, component, context, () => box.checked);
      node.append(box);
      if (component.label) node.append(el("span", null, component.label));
      break;
    }
    case "Input":
    case "Textarea": {
      node = el(type === "Textarea" ? "textarea" : "input", `wk-${type}`);
      if (type === "Input") node.type = ["number", "email", "text", "password", "tel", "url"].includes(component.inputType) ? component.inputType : "text";
      if (component.defaultValue !== undefined) node.value = String(component.defaultValue);
      if (component.placeholder) node.placeholder = String(component.placeholder);
      if (type === "Textarea" && typeof component.rows === "number") node.rows = component.rows;
      bindControl(node, component, context, () => node.value);
      break;
    }
    case "Select": {
      node = el("select", "wk-Select");
      if (component.placeholder) {
        const placeholder = el("option", null, component.placeholder);
        placeholder.value = "";
        placeholder.disabled = true;
        placeholder.selected = component.defaultValue === undefined;
        node.append(placeholder);
      }
      for (const option of component.options || []) {
        const choice = el("option", null, option.label ?? option.value);
        choice.value = String(option.value);
        if (option.disabled) choice.disabled = true;
        if (String(option.value) === String(component.defaultValue)) choice.selected = true;
        node.append(choice);
      }
      bindControl(node, component, context, () => node.value);
      break;
    }
    case "DatePicker": {
      node = el("input", "wk-DatePicker");
      node.type = "date";
      if (component.defaultValue) node.value = String(component.defaultValue).slice(0, 10);
      if (component.min) node.min = String(component.min).slice(0, 10);
      if (component.max) node.max = String(component.max).slice(0, 10);
      if (component.placeholder) node.placeholder = String(component.placeholder);
      bindControl(node, component, context, () => node.value);
      break;
    }
    case "RadioGroup": {
      node = el("div", `wk-RadioGroup ${component.direction === "row" ? "wk-row" : "wk-col"}`);
      for (const option of component.options || []) {
        const label = el("label", "wk-Checkbox");
        const radio = el("input");
        radio.type = "radio";
        radio.value = String(option.value);
        radio.checked = String(option.value) === String(component.defaultValue);
        bindControl(radio, { ...component, name: component.name }, context, () => radio.value);
        label.append(radio, el("span", null, option.label ?? option.value));
        node.append(label);
      }
      break;
    }
    case "Label":
      node = el("label", "wk-Label", component.value);
      break;
    case "Divider":
      node = el("hr", "wk-Divider");
      applySpacing(node, { margin: component.spacing !== undefined ? { y: component.spacing } : undefined }, "margin", "margin");
      if (cssColor(component.color)) node.style.borderColor = cssColor(component.color);
      if (component.flush) node.classList.add("wk-flush");
      break;
    case "Icon":
      node = widgetIcon(component.name, component);
      break;
    case "Image": {
      node = el("img", "wk-Image");
      if (typeof component.src === "string" && /^(https?:|\/|blob:)/.test(component.src)) node.src = component.src;
      node.alt = component.alt || "";
      applyBox(node, component);
      if (component.fit) node.style.objectFit = String(component.fit).replace(/[^a-z-]/g, "");
      break;
    }
    case "Spacer":
      node = el("div", "wk-Spacer");
      if (component.minSize !== undefined) node.style.minWidth = node.style.minHeight = cssLength(component.minSize) || "";
      break;
    case "Transition":
      node = el("div", "wk-Transition");
      renderWidgetChildren(node, { children: component.children }, context);
      break;
    default:
      node = el("div", "wk-unknown muted small", `[${type || "component"}]`);
      renderWidgetChildren(node, component, context);
  }
  if (component.key !== undefined && node.dataset) node.dataset.wkKey = String(component.key);
  if (component.id !== undefined && node.dataset && !node.dataset.wkId) node.dataset.wkId = String(component.id);
  return node;
}

function renderWidgetItem(item) {
  const node = el("div", "message assistant widget");
  const frame = el("div", "wk-frame");
  const widget = renderWidgetNode(item.widget, { itemId: item.id });
  if (widget) frame.append(widget);
  node.append(frame);
  return node;
}

/** Finds the component with `id` in a widget tree (children lists and single children). */
function findWidgetNode(component, id) {
  if (!component || typeof component !== "object") return null;
  if (component.id === id) return component;
  const children = Array.isArray(component.children) ? component.children : component.children ? [component.children] : [];
  for (const child of children) {
    const found = findWidgetNode(child, id);
    if (found) return found;
  }
  return null;
}

/** Applies a widget update to the item, as ChatKit does; false when it does not apply. */
function applyWidgetUpdate(item, update) {
  switch (update.type) {
    case "widget.root.updated":
      item.widget = update.widget;
      return true;
    case "widget.component.updated": {
      if (item.widget && item.widget.id === update.component_id) {
        item.widget = update.component;
        return true;
      }
      const replace = (node) => {
        if (!node || typeof node !== "object") return false;
        if (Array.isArray(node.children)) {
          const index = node.children.findIndex((child) => child && child.id === update.component_id);
          if (index !== -1) {
            node.children[index] = update.component;
            return true;
          }
          return node.children.some(replace);
        }
        if (node.children && typeof node.children === "object") {
          if (node.children.id === update.component_id) {
            node.children = update.component;
            return true;
          }
          return replace(node.children);
        }
        return false;
      };
      return replace(item.widget);
    }
    case "widget.streaming_text.value_delta": {
      const node = findWidgetNode(item.widget, update.component_id);
      if (!node) return false;
      node.value = (node.value || "") + update.delta;
      node.streaming = !update.done;
      return true;
    }
    default:
      return false;
  }
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
