"""Golden fixtures for chatkit-protocol, produced by the Python reference itself.

Builds an instance of every request, stream event, item update, thread item, widget component,
source kind and supporting type with openai-chatkit's own pydantic models, and writes the JSON the
reference sends (``model_dump_json(by_alias=True, exclude_none=True,
context={"exclude_metadata": True})``, the serializer of ``ChatKitServer._serialize``).

Output, under ``crates/chatkit-protocol/tests/fixtures/`` (both folders are rewritten from scratch):

* ``reference/<kind>/<name>.json``: one serialized value. The Rust golden test parses it as the
  type that ``<kind>`` names and checks that it serializes back to equal JSON.
* ``reference-inputs/<kind>/<name>.json``: ``{"input": ..., "expected": ...}``: what the reference
  makes of a sparse input (defaults filled, ``None`` dropped, numbers coerced). The Rust test parses
  ``input`` and checks that it serializes to ``expected``.
* ``reference-rejects/request/<name>.json``: ``{"input": ..., "locations": [[...], ...]}``: request
  bodies the reference rejects, with pydantic's error locations. The Rust test checks that we reject
  them too and that our message names the field.

Run it through ``scripts/reference/regenerate-fixtures.sh``, which prepares the virtualenv.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# The named widget classes are deprecated in favour of .widget templates, but they are the typed
# definition of every component, which is exactly what the fixtures must exercise.
warnings.filterwarnings("ignore", category=DeprecationWarning)

from pydantic import BaseModel, TypeAdapter, ValidationError  # noqa: E402

from chatkit import types as t  # noqa: E402
from chatkit import widgets as w  # noqa: E402
from chatkit.actions import Action, ActionConfig  # noqa: E402
from chatkit.errors import ErrorCode  # noqa: E402
from chatkit.version import __version__  # noqa: E402

EXPECTED_VERSION = "1.6.5"

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "crates" / "chatkit-protocol" / "tests" / "fixtures"

# Timezone-aware UTC datetimes: pydantic writes them with a `Z`, exactly as we do.
T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
T1 = datetime(2025, 1, 2, 3, 4, 6, tzinfo=timezone.utc)

DUMP_OPTIONS: dict[str, Any] = {
    "by_alias": True,
    "exclude_none": True,
    "context": {"exclude_metadata": True},
}


def dump(value: Any, adapter: TypeAdapter | None = None) -> Any:
    """The reference's wire JSON for a value, as a Python JSON tree."""
    if adapter is None and isinstance(value, BaseModel):
        raw = value.model_dump_json(**DUMP_OPTIONS)
    else:
        raw = (adapter or TypeAdapter(type(value))).dump_json(value, **DUMP_OPTIONS)
    return json.loads(raw)


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------

THREAD_ID = "thr_0001"

url_source = t.URLSource(
    title="Rust book",
    description="The Rust programming language",
    timestamp="2025-01-01",
    group="docs",
    url="https://doc.rust-lang.org/book/",
    attribution="rust-lang.org",
)
file_source = t.FileSource(title="Report", description="Q4", group="files", filename="q4.pdf")
entity_source = t.EntitySource(
    title="Ada Lovelace",
    description="Mathematician",
    timestamp="1815-12-10",
    group="people",
    id="ent_ada",
    icon="profile",
    label="Person",
    inline_label="Ada",
    interactive=True,
    data={"born": 1815, "tags": ["math", "poetry"]},
)
entity_source_deprecated_preview = t.EntitySource(title="Lazy", id="ent_lazy", preview="lazy")
minimal_url_source = t.URLSource(title="Example", url="https://example.com")

annotation_url = t.Annotation(source=url_source, index=12)
annotation_file = t.Annotation(source=file_source)
annotation_entity = t.Annotation(source=entity_source, index=0)

assistant_content = t.AssistantMessageContent(
    text="Ownership is Rust's most unique feature.",
    annotations=[annotation_url, annotation_file, annotation_entity],
)
assistant_content_plain = t.AssistantMessageContent(text="Hello!")

text_content = t.UserMessageTextContent(text="What is ownership?")
tag_content = t.UserMessageTagContent(
    id="tag_1", text="@ada", data={"kind": "person"}, group="people", interactive=True
)
tag_content_minimal = t.UserMessageTagContent(id="tag_2", text="@bob", data={})

inference_full = t.InferenceOptions(tool_choice=t.ToolChoice(id="search"), model="gpt-4.1")
inference_empty = t.InferenceOptions()

upload_descriptor = t.AttachmentUploadDescriptor(
    url="https://uploads.example.com/atc_1",
    method="PUT",
    headers={"Authorization": "Bearer upload-token", "x-upload-id": "42"},
)
file_attachment = t.FileAttachment(
    id="atc_file",
    name="notes.txt",
    mime_type="text/plain",
    upload_descriptor=upload_descriptor,
    thread_id=THREAD_ID,
    metadata={"never": "serialized"},
)
file_attachment_minimal = t.FileAttachment(id="atc_min", name="a.bin", mime_type="application/octet-stream")
image_attachment = t.ImageAttachment(
    id="atc_img",
    name="cat.png",
    mime_type="image/png",
    preview_url="https://cdn.example.com/cat.png",
    thread_id=THREAD_ID,
)

user_input_full = t.UserMessageInput(
    content=[text_content, tag_content],
    attachments=["atc_file", "atc_img"],
    quoted_text="earlier answer",
    inference_options=inference_full,
)
user_input_minimal = t.UserMessageInput(
    content=[t.UserMessageTextContent(text="hi")], attachments=[], inference_options=inference_empty
)

action_config_full = ActionConfig(
    type="todo.toggle",
    payload={"id": 7, "done": True},
    handler="client",
    loadingBehavior="self",
    streaming=False,
)
action_config_minimal = ActionConfig(type="todo.refresh")

# Tasks: all five kinds, with and without their optional fields.
custom_task = t.CustomTask(title="Plan", icon="sparkle", content="1. read\n2. write", status_indicator="complete")
search_task = t.SearchTask(
    title="Searching", title_query="rust ownership", queries=["rust ownership", "borrowing"],
    sources=[url_source, minimal_url_source], status_indicator="loading",
)
thought_task = t.ThoughtTask(title="Thinking", content="The user wants a definition.")
file_task = t.FileTask(title="Reading files", sources=[file_source])
image_task = t.ImageTask(title="Drawing")
tasks = {
    "custom": custom_task,
    "custom_minimal": t.CustomTask(),
    "web_search": search_task,
    "web_search_minimal": t.SearchTask(),
    "thought": thought_task,
    "thought_minimal": t.ThoughtTask(content="hmm"),
    "file": file_task,
    "file_minimal": t.FileTask(),
    "image": image_task,
    "image_minimal": t.ImageTask(),
}

workflows = {
    "custom_with_custom_summary": t.Workflow(
        type="custom", tasks=[custom_task, search_task, file_task],
        summary=t.CustomSummary(title="Did research", icon="search"), expanded=True,
    ),
    "reasoning_with_duration_summary": t.Workflow(
        type="reasoning", tasks=[thought_task], summary=t.DurationSummary(duration=12),
    ),
    "custom_summary_without_icon": t.Workflow(
        type="custom", tasks=[image_task], summary=t.CustomSummary(title="Drew"),
    ),
    "empty": t.Workflow(type="custom", tasks=[]),
}

structured_inputs = {
    "multiple_choice": t.StructuredInputMultipleChoice(
        id="color", question="Favourite colour?",
        options=[t.StructuredInputMultipleChoiceOption(value="red"),
                 t.StructuredInputMultipleChoiceOption(value="blue")],
        multiple=True,
        answer=t.StructuredInputAnswer(values=["red", "blue"]),
    ),
    "multiple_choice_minimal": t.StructuredInputMultipleChoice(
        id="size", question="Size?", options=[t.StructuredInputMultipleChoiceOption(value="M")],
    ),
    "freeform": t.StructuredInputFreeform(
        id="why", question="Why?", description="A sentence is enough.",
        answer=t.StructuredInputAnswer(skipped=True),
    ),
    "freeform_minimal": t.StructuredInputFreeform(id="name", question="Name?"),
}

# --------------------------------------------------------------------------------------------
# Widgets: every component with every prop, and a minimal form of each.
# --------------------------------------------------------------------------------------------

theme_color = {"light": "gray-900", "dark": "gray-100"}
status_favicon = {"text": "From example.com", "favicon": "https://example.com/favicon.ico", "frame": True}
status_icon = {"text": "Synced", "icon": "check-circle"}

text_full = w.Text(
    id="txt_full", key="k1", value="Streaming text", streaming=True, italic=True, lineThrough=False,
    color=theme_color, weight="semibold", width=240, size="lg", textAlign="center", truncate=True,
    minLines=1, maxLines=3,
    editable={"name": "title", "autoFocus": True, "autoSelect": False, "autoComplete": "off",
              "allowAutofillExtensions": False, "pattern": "[a-z]+", "placeholder": "Title",
              "required": True},
)
text_not_editable = w.Text(value="Read only", editable=False, width="50%", color="secondary")
markdown_full = w.Markdown(id="md_1", key="md", value="**bold** and _italic_", streaming=False)
title_full = w.Title(value="Weekly report", color="emphasis", weight="bold", size="3xl",
                     textAlign="start", truncate=False, maxLines=2)
caption_full = w.Caption(value="Updated 5 min ago", color={"light": "gray-500", "dark": "gray-400"},
                         weight="normal", size="sm", textAlign="end", truncate=True, maxLines=1)
badge_full = w.Badge(label="New", color="discovery", variant="soft", size="md", pill=True)
divider_full = w.Divider(color="subtle", size=2, spacing="8px", flush=True)
icon_full = w.Icon(name="calendar", color="primary", size="2xl")
image_full = w.Image(
    src="https://cdn.example.com/chart.png", alt="A chart", fit="contain", position="top left",
    radius="lg", frame=True, flush=False, height=120, width="100%", size=64, minHeight=10,
    minWidth="2rem", minSize=8, maxHeight=400, maxWidth="80vw", maxSize="50%",
    margin={"x": 4, "y": "1rem"}, background="surface-secondary", aspectRatio=1.5, flex=1,
)
button_full = w.Button(
    submit=True, label="Save", onClickAction=action_config_full, iconStart="check", iconEnd="chevron-right",
    style="primary", iconSize="lg", color="success", variant="solid", size="lg", pill=False,
    uniform=False, block=True, disabled=False,
)
spacer_full = w.Spacer(minSize=16)
select_full = w.Select(
    name="priority",
    options=[{"value": "low", "label": "Low"},
             {"value": "high", "label": "High", "disabled": True, "description": "Urgent"}],
    onChangeAction=action_config_minimal, placeholder="Pick one", defaultValue="low", variant="outline",
    size="sm", pill=True, block=False, clearable=True, disabled=False, searchable=True,
)
date_picker_full = w.DatePicker(
    name="due", onChangeAction=action_config_minimal, placeholder="Due date",
    defaultValue=datetime(2025, 3, 1, tzinfo=timezone.utc),
    min=datetime(2025, 1, 1, tzinfo=timezone.utc), max=datetime(2025, 12, 31, 12, 30, tzinfo=timezone.utc),
    variant="soft", size="md", side="bottom", align="start", pill=False, block=True, clearable=True,
    disabled=False,
)
checkbox_full = w.Checkbox(name="agree", label="I agree", defaultChecked=True,
                           onChangeAction=action_config_minimal, disabled=False, required=True)
input_full = w.Input(
    name="email", inputType="email", defaultValue="ada@example.com", required=True, pattern=".+@.+",
    placeholder="you@example.com", allowAutofillExtensions=False, autoSelect=True, autoFocus=False,
    disabled=False, variant="outline", size="md", gutterSize="sm", pill=False,
)
label_full = w.Label(value="Email", fieldName="email", size="sm", weight="medium", textAlign="start",
                     color="secondary")
radio_full = w.RadioGroup(
    name="plan", options=[{"label": "Free", "value": "free"}, {"label": "Pro", "value": "pro", "disabled": True}],
    ariaLabel="Plan", onChangeAction=action_config_minimal, defaultValue="free", direction="row",
    disabled=False, required=True,
)
textarea_full = w.Textarea(
    name="notes", defaultValue="hello", required=False, pattern=".*", placeholder="Notes", autoSelect=False,
    autoFocus=True, disabled=False, variant="soft", size="lg", gutterSize="md", rows=4, autoResize=True,
    maxRows=10, allowAutofillExtensions=True,
)
chart_full = w.Chart(
    data=[{"month": "Jan", "sales": 10, "cost": 2.5}, {"month": "Feb", "sales": 12, "cost": 3}],
    series=[
        w.BarSeries(label="Sales", dataKey="sales", stack="s", color="blue"),
        w.AreaSeries(label="Cost", dataKey="cost", stack="s", color=theme_color, curveType="monotone"),
        w.LineSeries(label=None, dataKey="cost", color="red-500", curveType="stepAfter"),
    ],
    xAxis={"dataKey": "month", "hide": False, "labels": {"Jan": "January"}},
    showYAxis=True, showLegend=True, showTooltip=False, barGap=4, barCategoryGap=8, flex=1, height=200,
    width="100%", size=300, minHeight=100, minWidth="10rem", minSize=50, maxHeight=600, maxWidth=900,
    maxSize="90%", aspectRatio="16/9",
)
chart_minimal = w.Chart(data=[], series=[w.BarSeries(label=None, dataKey="v")], xAxis="month")

box_layout: dict[str, Any] = dict(
    align="center", justify="between", wrap="wrap", flex="1 1 auto", gap=8, height=100, width="50%",
    size=40.5, minHeight=10, minWidth="1rem", minSize=4, maxHeight=300, maxWidth="90%", maxSize=500,
    padding={"top": 1, "right": "2px", "bottom": 3.5, "left": 4, "x": 5, "y": 6}, margin=2,
    border={"top": {"size": 1, "color": "strong", "style": "dashed"}, "bottom": 2,
            "x": {"size": 3, "color": theme_color}},
    radius="xl", background=theme_color, aspectRatio="4/3",
)
box_full = w.Box(children=[text_full, icon_full], direction="col", **box_layout)
row_full = w.Row(children=[badge_full, w.Spacer(), button_full], border={"size": 1, "style": "solid"},
                 padding="8px", align="baseline")
col_full = w.Col(children=[title_full, caption_full], gap="4px", border=1, padding=3)
form_full = w.Form(children=[label_full, input_full, button_full], onSubmitAction=action_config_full,
                   direction="row", gap=2)
transition_full = w.Transition(key="tr", children=w.Text(id="inner", value="animated"))
list_item_full = w.ListViewItem(id="li_1", key="li", children=[text_full, badge_full],
                                onClickAction=action_config_minimal, gap=4, align="center")

components: dict[str, Any] = {
    "text": text_full,
    "text_minimal": w.Text(value=""),
    "text_not_editable": text_not_editable,
    "markdown": markdown_full,
    "markdown_minimal": w.Markdown(value="# Hi"),
    "title": title_full,
    "title_minimal": w.Title(value="T"),
    "caption": caption_full,
    "caption_minimal": w.Caption(value="c"),
    "badge": badge_full,
    "badge_minimal": w.Badge(label="b"),
    "box": box_full,
    "box_minimal": w.Box(),
    "row": row_full,
    "row_minimal": w.Row(children=[]),
    "col": col_full,
    "col_minimal": w.Col(),
    "form": form_full,
    "form_minimal": w.Form(),
    "divider": divider_full,
    "divider_minimal": w.Divider(),
    "icon": icon_full,
    "icon_vendor": w.Icon(name="vendor:acme-logo"),
    "image": image_full,
    "image_minimal": w.Image(src="https://example.com/a.png"),
    "button": button_full,
    "button_minimal": w.Button(),
    "spacer": spacer_full,
    "spacer_minimal": w.Spacer(),
    "select": select_full,
    "select_minimal": w.Select(name="s", options=[]),
    "date_picker": date_picker_full,
    "date_picker_minimal": w.DatePicker(name="d"),
    "checkbox": checkbox_full,
    "checkbox_minimal": w.Checkbox(name="c"),
    "input": input_full,
    "input_minimal": w.Input(name="i"),
    "label": label_full,
    "label_minimal": w.Label(value="L", fieldName="f"),
    "radio_group": radio_full,
    "radio_group_minimal": w.RadioGroup(name="r"),
    "textarea": textarea_full,
    "textarea_minimal": w.Textarea(name="t"),
    "transition": transition_full,
    "transition_empty": w.Transition(children=None),
    "chart": chart_full,
    "chart_minimal": chart_minimal,
    "list_view_item": list_item_full,
    "list_view_item_minimal": w.ListViewItem(children=[]),
    # A component the typed models do not know, and a known one with props they do not model:
    # the reference keeps both as dynamic components.
    "dynamic_unknown_type": TypeAdapter(w.WidgetComponent).validate_python(
        {"type": "Sparkline", "id": "sp", "points": [1, 2, 3], "style": {"stroke": "blue"}}
    ),
    "dynamic_with_children": TypeAdapter(w.WidgetComponent).validate_python(
        {"type": "Carousel", "children": [{"type": "Text", "value": "slide", "fancy": True}]}
    ),
    "dynamic_single_child": TypeAdapter(w.WidgetComponent).validate_python(
        {"type": "Frame", "children": {"type": "Caption", "value": "one child"}}
    ),
}

card_full = w.Card(
    id="card_1", key="card", asForm=True, children=[box_full, row_full, col_full, form_full, divider_full,
                                                   image_full, chart_full, transition_full],
    background={"light": "white", "dark": "black"}, size="lg",
    padding={"x": 4, "y": 2}, status=status_favicon, collapsed=False,
    confirm={"label": "Confirm", "action": action_config_full},
    cancel={"label": "Cancel", "action": action_config_minimal}, theme="dark",
)
roots: dict[str, Any] = {
    "card": card_full,
    "card_minimal": w.Card(children=[]),
    "card_padding_number": w.Card(children=[markdown_full], padding=12, status=status_icon),
    "list_view": w.ListView(id="lv", children=[list_item_full, w.ListViewItem(children=[w.Text(value="2")])],
                            limit=5, status=status_icon, theme="light"),
    "list_view_limit_auto": w.ListView(children=[], limit="auto"),
    "basic": w.BasicRoot.model_validate(
        {"type": "Basic", "id": "b", "gap": 4, "children": [
            {"type": "Text", "id": "t1", "value": "hello", "streaming": True},
            {"type": "Card", "children": [{"type": "Markdown", "value": "nested root"}]},
        ]}
    ),
    "basic_minimal": w.BasicRoot(),
    # What `WidgetTemplate.build` returns: a dynamic root with props the typed models do not know.
    "dynamic_card": w.DynamicWidgetRoot.model_validate(
        {"type": "Card", "size": "sm", "futureProp": {"a": [1, 2]},
         "children": [{"type": "Text", "value": "x", "futureTextProp": 1},
                      {"type": "Gauge", "value": 0.5, "children": [{"type": "Icon", "name": "bolt"}]}]}
    ),
    "dynamic_list_view": w.DynamicWidgetRoot.model_validate(
        {"type": "ListView", "children": [{"type": "ListViewItem", "children": [], "badge": "new"}]}
    ),
}

series = {
    "bar": w.BarSeries(label="Sales", dataKey="sales", stack="a", color="blue"),
    "bar_minimal": w.BarSeries(label=None, dataKey="sales"),
    "area": w.AreaSeries(label="Area", dataKey="v", stack="a", color=theme_color, curveType="basisClosed"),
    "area_minimal": w.AreaSeries(label=None, dataKey="v"),
    "line": w.LineSeries(label="Line", dataKey="v", color="green", curveType="natural"),
    "line_minimal": w.LineSeries(label=None, dataKey="v"),
}

# --------------------------------------------------------------------------------------------
# Items, threads, events
# --------------------------------------------------------------------------------------------

base = {"thread_id": THREAD_ID, "created_at": T0}

items: dict[str, Any] = {
    "user_message": t.UserMessageItem(
        id="msg_user", content=[text_content, tag_content, tag_content_minimal],
        attachments=[file_attachment, image_attachment, file_attachment_minimal],
        quoted_text="quote", inference_options=inference_full, **base,
    ),
    "user_message_minimal": t.UserMessageItem(
        id="msg_user_min", content=[t.UserMessageTextContent(text="hi")], inference_options=inference_empty,
        thread_id=THREAD_ID, created_at=T1,
    ),
    "assistant_message": t.AssistantMessageItem(id="msg_asst", content=[assistant_content, assistant_content_plain], **base),
    "assistant_message_empty": t.AssistantMessageItem(id="msg_asst_empty", content=[], **base),
    "client_tool_call_pending": t.ClientToolCallItem(
        id="ctc_1", call_id="call_1", name="get_location", arguments={"precise": True}, **base,
    ),
    "client_tool_call_completed": t.ClientToolCallItem(
        id="ctc_2", status="completed", call_id="call_2", name="get_location", arguments={},
        output={"lat": 48.85, "lon": 2.35}, **base,
    ),
    "client_tool_call_string_output": t.ClientToolCallItem(
        id="ctc_3", status="completed", call_id="call_3", name="echo", arguments={"text": "x"},
        output="plain text", **base,
    ),
    "widget": t.WidgetItem(id="wdg_1", widget=card_full, copy_text="Weekly report", **base),
    "widget_list_view": t.WidgetItem(id="wdg_2", widget=roots["list_view"], **base),
    "widget_dynamic": t.WidgetItem(id="wdg_3", widget=roots["dynamic_card"], **base),
    "generated_image": t.GeneratedImageItem(
        id="img_1", image=t.GeneratedImage(id="gi_1", url="https://cdn.example.com/gi_1.png"), **base,
    ),
    "generated_image_pending": t.GeneratedImageItem(id="img_2", **base),
    "structured_input": t.StructuredInputItem(
        id="si_1", status="answered",
        inputs=[structured_inputs["multiple_choice"], structured_inputs["freeform"]], **base,
    ),
    "structured_input_pending": t.StructuredInputItem(
        id="si_2", inputs=[structured_inputs["multiple_choice_minimal"], structured_inputs["freeform_minimal"]],
        **base,
    ),
    "workflow": t.WorkflowItem(id="wf_1", workflow=workflows["custom_with_custom_summary"], **base),
    "workflow_reasoning": t.WorkflowItem(id="wf_2", workflow=workflows["reasoning_with_duration_summary"], **base),
    "task": t.TaskItem(id="task_1", task=search_task, **base),
    "hidden_context": t.HiddenContextItem(id="hc_1", content={"user_plan": "pro", "seats": 3}, **base),
    "hidden_context_text": t.HiddenContextItem(id="hc_2", content="plain context", **base),
    "sdk_hidden_context": t.SDKHiddenContextItem(
        id="shc_1", content="The user cancelled the stream. Stop responding to the prior request.", **base,
    ),
    "end_of_turn": t.EndOfTurnItem(id="eot_1", **base),
}

thread_statuses = {
    "active": t.ActiveStatus(),
    "locked": t.LockedStatus(reason="Read only while syncing"),
    "locked_no_reason": t.LockedStatus(),
    "closed": t.ClosedStatus(reason="Resolved"),
    "closed_no_reason": t.ClosedStatus(),
}

thread_metadata = {
    "full": t.ThreadMetadata(
        id=THREAD_ID, title="Ownership", created_at=T0, status=t.LockedStatus(reason="busy"),
        allowed_image_domains=["cdn.example.com"], metadata={"project": "p1", "n": 1},
    ),
    "minimal": t.ThreadMetadata(id="thr_min", created_at=T1),
}

visible_items = [items["user_message"], items["assistant_message"], items["widget"], items["workflow"]]
thread_full = t.Thread(
    id=THREAD_ID, title="Ownership", created_at=T0, status=t.ClosedStatus(reason="done"),
    allowed_image_domains=["cdn.example.com", "images.example.org"],
    items=t.Page(data=visible_items, has_more=True, after="wf_1"),
)
thread_empty = t.Thread(id="thr_empty", created_at=T1, items=t.Page())
threads = {"full": thread_full, "empty": thread_empty}

pages_threads = {
    "two_threads": t.Page[t.Thread](data=[thread_full, thread_empty], has_more=True, after="thr_empty"),
    "empty": t.Page[t.Thread](),
}
pages_items = {
    "every_visible_kind": t.Page[t.ThreadItem](
        data=[v for k, v in items.items() if "hidden" not in k], has_more=False,
    ),
    "with_cursor": t.Page[t.ThreadItem](data=[items["end_of_turn"]], has_more=True, after="eot_1"),
}

updates: dict[str, Any] = {
    "content_part_added": t.AssistantMessageContentPartAdded(content_index=0, content=assistant_content_plain),
    "content_part_text_delta": t.AssistantMessageContentPartTextDelta(content_index=1, delta=" world"),
    "content_part_annotation_added": t.AssistantMessageContentPartAnnotationAdded(
        content_index=0, annotation_index=2, annotation=annotation_entity,
    ),
    "content_part_done": t.AssistantMessageContentPartDone(content_index=0, content=assistant_content),
    "widget_streaming_text_value_delta": t.WidgetStreamingTextValueDelta(component_id="txt_full", delta="more", done=False),
    "widget_streaming_text_value_delta_done": t.WidgetStreamingTextValueDelta(component_id="md_1", delta="", done=True),
    "widget_component_updated": t.WidgetComponentUpdated(component_id="txt_full", component=text_full),
    "widget_component_updated_button": t.WidgetComponentUpdated(component_id="btn", component=button_full),
    "widget_root_updated": t.WidgetRootUpdated(widget=card_full),
    "widget_root_updated_list_view": t.WidgetRootUpdated(widget=roots["list_view"]),
    "workflow_task_added": t.WorkflowTaskAdded(task_index=0, task=thought_task),
    "workflow_task_updated": t.WorkflowTaskUpdated(task_index=1, task=search_task),
    "generated_image_updated": t.GeneratedImageUpdated(
        image=t.GeneratedImage(id="gi_1", url="https://cdn.example.com/partial.png"), progress=0.5,
    ),
    "generated_image_updated_no_progress": t.GeneratedImageUpdated(
        image=t.GeneratedImage(id="gi_1", url="https://cdn.example.com/final.png"),
    ),
}

events: dict[str, Any] = {
    "thread_created": t.ThreadCreatedEvent(thread=thread_empty),
    "thread_updated": t.ThreadUpdatedEvent(thread=thread_full),
    "thread_item_added": t.ThreadItemAddedEvent(item=items["assistant_message_empty"]),
    "thread_item_done": t.ThreadItemDoneEvent(item=items["user_message"]),
    "thread_item_done_widget": t.ThreadItemDoneEvent(item=items["widget"]),
    "thread_item_removed": t.ThreadItemRemovedEvent(item_id="msg_asst"),
    "thread_item_replaced": t.ThreadItemReplacedEvent(item=items["workflow_reasoning"]),
    "stream_options": t.StreamOptionsEvent(stream_options=t.StreamOptions(allow_cancel=True)),
    "stream_options_no_cancel": t.StreamOptionsEvent(stream_options=t.StreamOptions(allow_cancel=False)),
    "progress_update": t.ProgressUpdateEvent(icon="search", text="Searching the web"),
    "progress_update_no_icon": t.ProgressUpdateEvent(text="Working"),
    "client_effect": t.ClientEffectEvent(name="confetti", data={"count": 3}),
    "client_effect_no_data": t.ClientEffectEvent(name="refresh"),
    "error_stream_error": t.ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True),
    "error_custom": t.ErrorEvent(message="You are out of credits.", allow_retry=False),
    "error_default": t.ErrorEvent(),
    "notice_info": t.NoticeEvent(level="info", message="Saved."),
    "notice_warning": t.NoticeEvent(level="warning", message="Almost at your limit.", title="Heads up"),
    "notice_danger": t.NoticeEvent(level="danger", message="[Upgrade](https://example.com)"),
}
for name, update in updates.items():
    events[f"thread_item_updated_{name}"] = t.ThreadItemUpdatedEvent(item_id="msg_asst", update=update)

# --------------------------------------------------------------------------------------------
# Requests: all sixteen, with full and minimal params.
# --------------------------------------------------------------------------------------------

meta = {"page": "/inbox", "locale": "en-GB", "nested": {"flag": True}}
custom_action = Action[str, Any](type="todo.toggle", payload={"id": 7})

requests: dict[str, Any] = {
    "threads_create": t.ThreadsCreateReq(params=t.ThreadCreateParams(input=user_input_full), metadata=meta),
    "threads_create_minimal": t.ThreadsCreateReq(params=t.ThreadCreateParams(input=user_input_minimal)),
    "threads_add_user_message": t.ThreadsAddUserMessageReq(
        params=t.ThreadAddUserMessageParams(input=user_input_full, thread_id=THREAD_ID), metadata=meta,
    ),
    "threads_add_client_tool_output": t.ThreadsAddClientToolOutputReq(
        params=t.ThreadAddClientToolOutputParams(thread_id=THREAD_ID, result={"lat": 1.5, "ok": True}),
    ),
    "threads_add_client_tool_output_list": t.ThreadsAddClientToolOutputReq(
        params=t.ThreadAddClientToolOutputParams(thread_id=THREAD_ID, result=[1, "two", False]),
    ),
    "threads_add_structured_input": t.ThreadsAddStructuredInputReq(
        params=t.ThreadAddStructuredInputParams(
            thread_id=THREAD_ID, item_id="si_1",
            input=t.StructuredInputSubmission(
                status="answered",
                answers={"color": t.StructuredInputAnswerSubmission(values=["red"]),
                         "why": t.StructuredInputAnswerSubmission(skipped=True)},
            ),
        ),
    ),
    "threads_add_structured_input_skipped": t.ThreadsAddStructuredInputReq(
        params=t.ThreadAddStructuredInputParams(
            thread_id=THREAD_ID, item_id="si_2", input=t.StructuredInputSubmission(status="skipped"),
        ),
    ),
    "threads_retry_after_item": t.ThreadsRetryAfterItemReq(
        params=t.ThreadRetryAfterItemParams(thread_id=THREAD_ID, item_id="msg_user"),
    ),
    "threads_custom_action": t.ThreadsCustomActionReq(
        params=t.ThreadCustomActionParams(thread_id=THREAD_ID, item_id="wdg_1", action=custom_action),
    ),
    "threads_custom_action_no_item_no_payload": t.ThreadsCustomActionReq(
        params=t.ThreadCustomActionParams(thread_id=THREAD_ID, action=Action[str, Any](type="ping")),
    ),
    "threads_get_by_id": t.ThreadsGetByIdReq(params=t.ThreadGetByIdParams(thread_id=THREAD_ID)),
    "threads_list": t.ThreadsListReq(params=t.ThreadListParams(limit=20, order="asc", after="thr_0000")),
    "threads_list_defaults": t.ThreadsListReq(params=t.ThreadListParams()),
    "items_list": t.ItemsListReq(
        params=t.ItemsListParams(thread_id=THREAD_ID, limit=50, order="asc", after="msg_user"), metadata=meta,
    ),
    "items_list_defaults": t.ItemsListReq(params=t.ItemsListParams(thread_id=THREAD_ID)),
    "items_feedback_positive": t.ItemsFeedbackReq(
        params=t.ItemFeedbackParams(thread_id=THREAD_ID, item_ids=["msg_asst"], kind="positive"),
    ),
    "items_feedback_negative": t.ItemsFeedbackReq(
        params=t.ItemFeedbackParams(thread_id=THREAD_ID, item_ids=["msg_asst", "wf_1"], kind="negative"),
    ),
    "attachments_create": t.AttachmentsCreateReq(
        params=t.AttachmentCreateParams(name="cat.png", size=2048, mime_type="image/png"),
    ),
    "attachments_delete": t.AttachmentsDeleteReq(params=t.AttachmentDeleteParams(attachment_id="atc_img")),
    "threads_update": t.ThreadsUpdateReq(params=t.ThreadUpdateParams(thread_id=THREAD_ID, title="Renamed")),
    "threads_delete": t.ThreadsDeleteReq(params=t.ThreadDeleteParams(thread_id=THREAD_ID)),
    "input_transcribe": t.InputTranscribeReq(
        params=t.InputTranscribeParams(audio_base64="UklGRiQAAABXQVZF", mime_type="audio/webm;codecs=opus"),
    ),
    "threads_sync_custom_action": t.ThreadsSyncCustomActionReq(
        params=t.ThreadCustomActionParams(thread_id=THREAD_ID, item_id="wdg_1", action=custom_action),
        metadata=meta,
    ),
}

FeedbackAdapter = TypeAdapter(t.FeedbackKind)

fixtures: dict[str, dict[str, Any]] = {
    "request": requests,
    "event": events,
    "item_update": updates,
    "item": items,
    "thread": threads,
    "thread_metadata": thread_metadata,
    "thread_status": thread_statuses,
    "page_threads": pages_threads,
    "page_items": pages_items,
    "attachment": {"file": file_attachment, "file_minimal": file_attachment_minimal, "image": image_attachment},
    "upload_descriptor": {
        "put": upload_descriptor,
        "post_no_headers": t.AttachmentUploadDescriptor(url="https://uploads.example.com/x", method="POST"),
    },
    "user_message_content": {"text": text_content, "tag": tag_content, "tag_minimal": tag_content_minimal},
    "user_message_input": {"full": user_input_full, "minimal": user_input_minimal},
    "inference_options": {"full": inference_full, "empty": inference_empty},
    "annotation": {"url": annotation_url, "file": annotation_file, "entity": annotation_entity},
    "source": {
        "url": url_source, "url_minimal": minimal_url_source, "file": file_source,
        "file_minimal": t.FileSource(title="f", filename="f.txt"),
        "entity": entity_source, "entity_minimal": t.EntitySource(title="e", id="ent_1"),
        "entity_deprecated_preview": entity_source_deprecated_preview,
    },
    "task": tasks,
    "workflow": workflows,
    "workflow_summary": {"custom": t.CustomSummary(title="Done", icon="check"),
                         "custom_no_icon": t.CustomSummary(title="Done"),
                         "duration": t.DurationSummary(duration=3)},
    "structured_input": structured_inputs,
    "generated_image": {"image": t.GeneratedImage(id="gi_1", url="https://cdn.example.com/gi_1.png")},
    "action": {"with_payload": custom_action, "without_payload": Action[str, Any](type="ping")},
    "action_config": {"full": action_config_full, "defaults": action_config_minimal},
    "widget_root": roots,
    "widget_component": components,
    "chart_series": series,
    "sync_custom_action_response": {
        "with_item": t.SyncCustomActionResponse(updated_item=items["widget"]),
        "empty": t.SyncCustomActionResponse(),
    },
    "transcription_result": {"text": t.TranscriptionResult(text="hello world")},
}

# Plain (non-model) values: dumped through a TypeAdapter.
adapted: dict[str, dict[str, tuple[TypeAdapter, Any]]] = {
    "feedback_kind": {"positive": (FeedbackAdapter, "positive"), "negative": (FeedbackAdapter, "negative")},
}

# --------------------------------------------------------------------------------------------
# Sparse inputs: what the reference fills in, drops or coerces.
# --------------------------------------------------------------------------------------------

request_adapter = TypeAdapter(t.ChatKitReq)
item_adapter = TypeAdapter(t.ThreadItem)
event_adapter = TypeAdapter(t.ThreadStreamEvent)

inputs: dict[str, dict[str, tuple[TypeAdapter, Any]]] = {
    "request": {
        "threads_list_empty_params": (request_adapter, {"type": "threads.list", "params": {}}),
        "items_list_defaults": (request_adapter, {"type": "items.list", "params": {"thread_id": "t", "limit": None}}),
        "unknown_fields_ignored": (request_adapter, {
            "type": "threads.get_by_id", "params": {"thread_id": "t", "surprise": 1}, "extra": True}),
        "structured_input_defaults": (request_adapter, {
            "type": "threads.add_structured_input",
            "params": {"thread_id": "t", "item_id": "i", "input": {"answers": {"a": {}}}}}),
        "custom_action_defaults": (request_adapter, {
            "type": "threads.custom_action", "params": {"thread_id": "t", "action": {"type": "go"}}}),
        "user_message_defaults": (request_adapter, {
            "type": "threads.create", "params": {"input": {
                "content": [{"type": "input_tag", "id": "g", "text": "@g", "data": {}}],
                "attachments": [], "inference_options": {}}}}),
    },
    "thread_metadata": {
        "status_defaults_to_active": (TypeAdapter(t.ThreadMetadata), {"id": "t", "created_at": "2025-01-02T03:04:05Z"}),
    },
    "item": {
        "client_tool_call_pending_default": (item_adapter, {
            "type": "client_tool_call", "id": "c", "thread_id": "t", "created_at": "2025-01-02T03:04:05Z",
            "call_id": "x", "name": "n", "arguments": {}}),
        "structured_input_defaults": (item_adapter, {
            "type": "structured_input", "id": "s", "thread_id": "t", "created_at": "2025-01-02T03:04:05Z",
            "inputs": [{"type": "multiple_choice", "id": "a", "question": "q", "options": []}]}),
        "user_message_defaults": (item_adapter, {
            "type": "user_message", "id": "u", "thread_id": "t", "created_at": "2025-01-02T03:04:05.5Z",
            "content": [{"type": "input_text", "text": "x"}], "inference_options": {}}),
        "assistant_content_defaults": (item_adapter, {
            "type": "assistant_message", "id": "a", "thread_id": "t", "created_at": "2025-01-02T03:04:05Z",
            "content": [{"text": "x", "annotations": [{"source": {"type": "entity", "title": "e", "id": "e"}}]}]}),
        "workflow_task_defaults": (item_adapter, {
            "type": "workflow", "id": "w", "thread_id": "t", "created_at": "2025-01-02T03:04:05Z",
            "workflow": {"type": "custom", "tasks": [{"type": "web_search"}, {"type": "custom"}]}}),
    },
    "event": {
        "error_defaults": (event_adapter, {"type": "error"}),
        "client_effect_defaults": (event_adapter, {"type": "client_effect", "name": "x"}),
        "widget_float_props_coerced": (event_adapter, {
            "type": "thread.item.updated", "item_id": "w",
            "update": {"type": "widget.root.updated", "widget": {"type": "Card", "children": [
                {"type": "Box", "height": 100, "gap": 2, "padding": 3}]}}}),
    },
    "action_config": {
        "defaults": (TypeAdapter(ActionConfig), {"type": "x"}),
    },
    "page_items": {
        "defaults": (TypeAdapter(t.Page[t.ThreadItem]), {}),
    },
    "widget_component": {
        "nulls_dropped": (TypeAdapter(w.WidgetComponent), {"type": "Text", "value": "v", "color": None}),
        "dynamic_nested_nulls_dropped": (TypeAdapter(w.WidgetComponent), {
            "type": "Gauge", "style": {"a": None, "b": 1}, "values": [1, None, 2]}),
    },
}

# --------------------------------------------------------------------------------------------
# Request bodies the reference rejects.
# --------------------------------------------------------------------------------------------

rejects: dict[str, Any] = {
    "unknown_type": {"type": "threads.explode", "params": {}},
    "missing_type": {"params": {"thread_id": "t"}},
    "missing_params": {"type": "threads.get_by_id"},
    "missing_thread_id": {"type": "threads.get_by_id", "params": {}},
    "missing_input_content": {"type": "threads.create", "params": {"input": {
        "attachments": [], "inference_options": {}}}},
    "mistyped_limit": {"type": "items.list", "params": {"thread_id": "t", "limit": "many"}},
    "bad_order": {"type": "threads.list", "params": {"order": "sideways"}},
    "bad_feedback_kind": {"type": "items.feedback", "params": {"thread_id": "t", "item_ids": [], "kind": "meh"}},
    "unknown_content_type": {"type": "threads.add_user_message", "params": {"thread_id": "t", "input": {
        "content": [{"type": "input_audio", "data": "x"}], "attachments": [], "inference_options": {}}}},
    "missing_size": {"type": "attachments.create", "params": {"name": "a", "mime_type": "text/plain"}},
    "mistyped_item_ids": {"type": "items.feedback", "params": {"thread_id": "t", "item_ids": "a", "kind": "positive"}},
}


def write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    if __version__ != EXPECTED_VERSION:
        print(f"expected openai-chatkit {EXPECTED_VERSION}, found {__version__}", file=sys.stderr)
        return 1

    for folder in ("reference", "reference-inputs", "reference-rejects"):
        shutil.rmtree(FIXTURES / folder, ignore_errors=True)

    count = 0
    for kind, named in fixtures.items():
        for name, value in named.items():
            write(FIXTURES / "reference" / kind / f"{name}.json", dump(value))
            count += 1
    for kind, named in adapted.items():
        for name, (adapter, value) in named.items():
            write(FIXTURES / "reference" / kind / f"{name}.json", dump(value, adapter))
            count += 1
    kinds = len(fixtures) + len(adapted)

    input_count = 0
    for kind, named in inputs.items():
        for name, (adapter, raw) in named.items():
            parsed = adapter.validate_python(raw)
            write(FIXTURES / "reference-inputs" / kind / f"{name}.json",
                  {"input": raw, "expected": dump(parsed, adapter)})
            input_count += 1

    for name, raw in rejects.items():
        try:
            request_adapter.validate_python(raw)
        except ValidationError as error:
            locations = [list(detail["loc"]) for detail in error.errors()]
            write(FIXTURES / "reference-rejects" / "request" / f"{name}.json",
                  {"input": raw, "locations": locations})
        else:
            print(f"the reference accepted the reject fixture {name}", file=sys.stderr)
            return 1

    print(f"wrote {count} fixtures of {kinds} kinds, {input_count} input fixtures, {len(rejects)} rejects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
