//! Property tests: Rust values survive a round trip through JSON, and widget diffs reproduce the
//! new version when applied to the old one.

use chatkit_protocol::widgets::*;
use chatkit_protocol::*;
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let text = serde_json::to_string(value).expect("serializes");
    let again: T = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    assert_eq!(&again, value, "{text}");
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 é\"\\\\\n✓]{0,12}"
}

fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_000_000_000, 0u32..1_000_000).prop_map(|(secs, micros)| {
        Utc.timestamp_opt(secs, micros * 1000)
            .single()
            .expect("valid")
    })
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn json_map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x-[a-z]{1,6}", json_leaf(), 0..3)
        .prop_map(|entries| entries.into_iter().collect())
}

fn color() -> impl Strategy<Value = Color> {
    prop_oneof![
        text().prop_map(Color::Token),
        (text(), text()).prop_map(|(light, dark)| ThemeColor::new(light, dark).into()),
    ]
}

fn dimension() -> impl Strategy<Value = Dimension> {
    prop_oneof![
        any::<i64>().prop_map(Dimension::Px),
        text().prop_map(Dimension::Css)
    ]
}

fn float_dimension() -> impl Strategy<Value = FloatDimension> {
    prop_oneof![
        (-1e6f64..1e6).prop_map(FloatDimension::Number),
        text().prop_map(FloatDimension::Css),
    ]
}

fn action_config() -> impl Strategy<Value = ActionConfig> {
    (text(), json_map(), any::<bool>()).prop_map(|(kind, payload, streaming)| {
        let mut action = ActionConfig::new(kind, Value::Object(payload));
        action.streaming = streaming;
        action
    })
}

fn leaf_component() -> impl Strategy<Value = WidgetComponent> {
    prop_oneof![
        (
            text(),
            prop::option::of(text()),
            prop::option::of(color()),
            any::<bool>(),
            json_map()
        )
            .prop_map(|(value, id, color, streaming, extra)| {
                let mut text = Text::new(value).streaming(streaming);
                text.id = id;
                text.color = color;
                text.extra = extra;
                text.into()
            }),
        (text(), prop::option::of(text())).prop_map(|(value, id)| {
            let mut markdown = Markdown::new(value);
            markdown.id = id;
            markdown.into()
        }),
        (text(), any::<bool>()).prop_map(|(label, pill)| Badge::new(label).pill(pill).into()),
        prop::option::of(dimension()).prop_map(|size| {
            let mut divider = Divider::new().flush(true);
            divider.size = size;
            divider.into()
        }),
        (text(), prop::option::of(action_config())).prop_map(|(label, action)| {
            let mut button = Button::new(label);
            button.on_click_action = action;
            button.into()
        }),
        (
            text(),
            prop::option::of(float_dimension()),
            prop::option::of(dimension())
        )
            .prop_map(|(src, ratio, height)| {
                let mut image = Image::new(src).margin(Spacing::Sides(SpacingSides {
                    x: Some(FloatDimension::Number(1.5)),
                    ..SpacingSides::default()
                }));
                image.aspect_ratio = ratio;
                image.height = height;
                image.into()
            }),
        (text(), json_map()).prop_map(|(kind, props)| {
            let mut map = props;
            map.insert("type".into(), Value::String(format!("Future{kind}")));
            DynamicComponent(map).into()
        }),
    ]
}

fn component() -> impl Strategy<Value = WidgetComponent> {
    leaf_component().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            (
                prop::collection::vec(inner.clone(), 0..4),
                prop::option::of(float_dimension())
            )
                .prop_map(|(children, height)| {
                    let mut row = Row::new().children(children).gap(2);
                    row.layout.height = height;
                    row.into()
                }),
            (
                prop::collection::vec(inner.clone(), 0..4),
                prop::option::of(color())
            )
                .prop_map(|(children, background)| {
                    let mut column = BoxContainer::new().children(children).direction("col");
                    column.layout.background = background;
                    column.layout.border = Some(BorderSpec::Edges(Borders {
                        top: Some(EdgeBorder::Width(1)),
                        ..Borders::default()
                    }));
                    column.into()
                }),
            inner
                .clone()
                .prop_map(|child| Transition::new(child).into()),
            prop::collection::vec(inner, 0..3)
                .prop_map(|children| ListViewItem::new().children(children).into()),
        ]
    })
}

fn root() -> impl Strategy<Value = WidgetRoot> {
    prop_oneof![
        (
            prop::collection::vec(component(), 0..4),
            prop::option::of(text())
        )
            .prop_map(|(children, status)| {
                let mut card = Card::new().children(children).padding(8);
                card.status = status.map(|text| WidgetStatus::with_icon(text, "check"));
                card.into()
            }),
        prop::collection::vec(component(), 0..3).prop_map(|children| {
            ListView::new()
                .item(ListViewItem::new().children(children))
                .limit("auto")
                .into()
        }),
        prop::collection::vec(component(), 0..3)
            .prop_map(|children| Basic::new().children(children).into()),
    ]
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        (text(), text(), prop::option::of(text())).prop_map(|(title, url, description)| {
            Source::Url(UrlSource {
                title,
                description,
                timestamp: None,
                group: None,
                url,
                attribution: None,
            })
        }),
        (text(), text()).prop_map(|(title, filename)| Source::File(FileSource {
            title,
            description: None,
            timestamp: None,
            group: None,
            filename,
        })),
        (text(), text(), json_map(), any::<bool>()).prop_map(|(title, id, data, interactive)| {
            Source::Entity(EntitySource {
                title,
                description: None,
                timestamp: None,
                group: None,
                id,
                icon: Some("book-open".into()),
                label: None,
                inline_label: None,
                interactive,
                data,
                preview: None,
            })
        }),
    ]
}

fn task() -> impl Strategy<Value = Task> {
    prop_oneof![
        (prop::option::of(text()), prop::option::of(text())).prop_map(|(title, content)| {
            Task::Custom {
                status_indicator: StatusIndicator::Complete,
                title,
                icon: None,
                content,
            }
        }),
        (text(), prop::collection::vec(text(), 0..3)).prop_map(|(title, queries)| {
            Task::WebSearch {
                status_indicator: StatusIndicator::Loading,
                title: Some(title),
                title_query: None,
                queries,
                sources: Vec::new(),
            }
        }),
        text().prop_map(|content| Task::Thought {
            status_indicator: StatusIndicator::None,
            title: None,
            content,
        }),
        prop::option::of(text()).prop_map(|title| Task::Image {
            status_indicator: StatusIndicator::None,
            title,
        }),
    ]
}

fn base() -> (
    impl Strategy<Value = String>,
    impl Strategy<Value = String>,
    impl Strategy<Value = DateTime<Utc>>,
) {
    (text(), text(), timestamp())
}

fn item() -> impl Strategy<Value = ThreadItem> {
    prop_oneof![
        (
            base(),
            prop::collection::vec(text(), 1..3),
            prop::option::of(text())
        )
            .prop_map(|((id, thread_id, created_at), parts, model)| {
                ThreadItem::UserMessage(UserMessageItem {
                    id,
                    thread_id,
                    created_at,
                    content: parts.into_iter().map(UserMessageContent::text).collect(),
                    attachments: Vec::new(),
                    quoted_text: None,
                    inference_options: InferenceOptions {
                        tool_choice: None,
                        model,
                    },
                })
            }),
        (base(), text(), prop::collection::vec(source(), 0..3)).prop_map(
            |((id, thread_id, created_at), text, sources)| {
                let mut content = AssistantMessageContent::text(text);
                content.annotations = sources
                    .into_iter()
                    .map(|source| Annotation {
                        kind: AnnotationTag::Annotation,
                        source,
                        index: Some(3),
                    })
                    .collect();
                ThreadItem::AssistantMessage(AssistantMessageItem {
                    id,
                    thread_id,
                    created_at,
                    content: vec![content],
                })
            }
        ),
        (base(), root(), prop::option::of(text())).prop_map(
            |((id, thread_id, created_at), widget, copy_text)| {
                ThreadItem::Widget(WidgetItem {
                    id,
                    thread_id,
                    created_at,
                    widget: Box::new(widget),
                    copy_text,
                })
            }
        ),
        (base(), prop::collection::vec(task(), 0..4), any::<bool>()).prop_map(
            |((id, thread_id, created_at), tasks, expanded)| {
                ThreadItem::Workflow(WorkflowItem {
                    id,
                    thread_id,
                    created_at,
                    workflow: Workflow {
                        kind: WorkflowKind::Reasoning,
                        tasks,
                        summary: Some(WorkflowSummary::Duration { duration: 4 }),
                        expanded,
                    },
                })
            }
        ),
        (base(), text()).prop_map(|((id, thread_id, created_at), content)| {
            ThreadItem::SdkHiddenContext(SdkHiddenContextItem {
                id,
                thread_id,
                created_at,
                content,
            })
        }),
    ]
}

fn event() -> impl Strategy<Value = ThreadStreamEvent> {
    prop_oneof![
        item().prop_map(|item| ThreadStreamEvent::ThreadItemDone { item }),
        item().prop_map(|item| ThreadStreamEvent::ThreadItemAdded { item }),
        (text(), text()).prop_map(|(item_id, delta)| ThreadStreamEvent::ThreadItemUpdated {
            item_id,
            update: ThreadItemUpdate::AssistantMessageContentPartTextDelta {
                content_index: 0,
                delta,
            },
        }),
        (text(), root()).prop_map(|(item_id, widget)| ThreadStreamEvent::ThreadItemUpdated {
            item_id,
            update: ThreadItemUpdate::WidgetRootUpdated {
                widget: Box::new(widget)
            },
        }),
        (text(), component()).prop_map(|(item_id, component)| {
            ThreadStreamEvent::ThreadItemUpdated {
                item_id: item_id.clone(),
                update: ThreadItemUpdate::WidgetComponentUpdated {
                    component_id: item_id,
                    component: Box::new(component),
                },
            }
        }),
        (prop::option::of(text()), any::<bool>()).prop_map(|(message, allow_retry)| {
            ThreadStreamEvent::Error {
                code: ErrorCode::Custom,
                message,
                allow_retry,
            }
        }),
        (text(), json_map())
            .prop_map(|(name, data)| ThreadStreamEvent::ClientEffect { name, data }),
    ]
}

fn request() -> impl Strategy<Value = ChatKitRequest> {
    prop_oneof![
        (prop::collection::vec(text(), 1..3), json_map()).prop_map(|(parts, metadata)| {
            ChatKitRequest::ThreadsCreate {
                params: ThreadCreateParams {
                    input: UserMessageInput {
                        content: parts.into_iter().map(UserMessageContent::text).collect(),
                        attachments: vec!["atc_1".into()],
                        quoted_text: None,
                        inference_options: InferenceOptions::default(),
                    },
                },
                metadata,
            }
        }),
        (text(), prop::option::of(1i64..100), any::<bool>()).prop_map(|(thread_id, limit, asc)| {
            ChatKitRequest::ItemsList {
                params: ItemsListParams {
                    thread_id,
                    limit,
                    order: if asc { Order::Asc } else { Order::Desc },
                    after: None,
                },
                metadata: Map::new(),
            }
        }),
        (text(), prop::option::of(text()), text(), json_map()).prop_map(
            |(thread_id, item_id, kind, payload)| ChatKitRequest::ThreadsCustomAction {
                params: ThreadCustomActionParams {
                    thread_id,
                    item_id,
                    action: Action {
                        kind,
                        payload: Value::Object(payload),
                    },
                },
                metadata: Map::new(),
            }
        ),
        (text(), json_leaf()).prop_map(|(thread_id, result)| {
            ChatKitRequest::ThreadsAddClientToolOutput {
                params: ThreadAddClientToolOutputParams { thread_id, result },
                metadata: Map::new(),
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn widget_roots_round_trip(root in root()) {
        round_trip(&root);
    }

    #[test]
    fn widget_components_round_trip(component in component()) {
        round_trip(&component);
    }

    #[test]
    fn thread_items_round_trip(item in item()) {
        round_trip(&item);
    }

    /// Items are read straight from the input when `type` comes first (as this crate writes
    /// them) and through a map otherwise (as the reference writes them): both give the same item,
    /// and so does reading from a `serde_json::Value`.
    #[test]
    fn thread_items_decode_the_same_wherever_type_is(item in item()) {
        let type_first = serde_json::to_string(&item).expect("serializes");
        prop_assert!(type_first.starts_with("{\"type\":"), "{}", type_first);
        let Value::Object(fields) = serde_json::to_value(&item).expect("to a value") else {
            panic!("an item is an object");
        };
        let mut type_last = String::from("{");
        for (key, value) in fields.iter().filter(|(key, _)| *key != "type") {
            type_last.push_str(&format!("{}:{},", json!(key), value));
        }
        type_last.push_str(&format!("\"type\":{}}}", fields["type"]));
        let from_type_last: ThreadItem = serde_json::from_str(&type_last).expect("type last");
        prop_assert_eq!(&from_type_last, &item);
        let from_value: ThreadItem =
            serde_json::from_value(Value::Object(fields)).expect("from a value");
        prop_assert_eq!(&from_value, &item);
    }

    #[test]
    fn stream_events_round_trip(event in event()) {
        round_trip(&event);
    }

    #[test]
    fn requests_round_trip_through_from_slice(request in request()) {
        let body = serde_json::to_vec(&request).expect("serializes");
        let parsed = ChatKitRequest::from_slice(&body).expect("parses");
        prop_assert_eq!(parsed, request);
    }

    #[test]
    fn widget_diffs_rebuild_the_new_version(
        title in text(),
        prefixes in prop::collection::vec(text(), 1..4),
        suffixes in prop::collection::vec(text(), 4),
        streaming in any::<bool>(),
    ) {
        let build = |extend: bool| -> WidgetRoot {
            let mut card = Card::new().child(Title::new(title.clone()));
            for (index, prefix) in prefixes.iter().enumerate() {
                let value = if extend { format!("{prefix}{}", suffixes[index]) } else { prefix.clone() };
                let node: WidgetComponent = if index % 2 == 0 {
                    Text::new(value).id(format!("t{index}")).streaming(streaming).into()
                } else {
                    Markdown::new(value).id(format!("t{index}")).streaming(streaming).into()
                };
                card = card.child(Row::new().child(node));
            }
            card.into()
        };
        let (before, after) = (build(false), build(true));
        let updates = diff_widget(&before, &after).expect("cumulative updates diff");
        let all_deltas_say_done_unless_streaming = updates.iter().all(|update| matches!(
            update,
            ThreadItemUpdate::WidgetStreamingTextValueDelta { done, .. } if *done != streaming
        ));
        prop_assert!(all_deltas_say_done_unless_streaming);
        let mut rebuilt = before.clone();
        for update in &updates {
            rebuilt = apply_widget_update(&rebuilt, update).expect("applies");
        }
        prop_assert_eq!(rebuilt, after);
        prop_assert_eq!(diff_widget(&before, &before).expect("diffs"), vec![]);
    }
}

#[test]
fn a_changed_structure_replaces_the_whole_widget() {
    let before: WidgetRoot = Card::new().child(Text::new("a").id("t")).into();
    let after: WidgetRoot = Card::new()
        .child(Text::new("a").id("t"))
        .child(Divider::new())
        .into();
    let updates = diff_widget(&before, &after).expect("diffs");
    assert_eq!(
        updates,
        vec![ThreadItemUpdate::WidgetRootUpdated {
            widget: Box::new(after.clone())
        }]
    );
    assert_eq!(
        apply_widget_update(&before, &updates[0]).expect("applies"),
        after
    );
    // A component update replaces the node with that id.
    let replaced = apply_widget_update(
        &before,
        &ThreadItemUpdate::WidgetComponentUpdated {
            component_id: "t".into(),
            component: Box::new(Badge::new("new").id("t").into()),
        },
    )
    .expect("applies");
    assert_eq!(
        replaced.to_json(),
        json!({"type": "Card", "children": [{"type": "Badge", "id": "t", "label": "new"}]})
    );
    let missing = apply_widget_update(
        &before,
        &ThreadItemUpdate::WidgetStreamingTextValueDelta {
            component_id: "nope".into(),
            delta: "x".into(),
            done: true,
        },
    )
    .expect_err("no such node");
    assert!(missing.to_string().contains("nope"), "{missing}");
}
