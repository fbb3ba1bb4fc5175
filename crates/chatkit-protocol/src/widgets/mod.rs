//! Widgets: typed components, tolerant of what they do not model, and diffing between versions.
//!
//! A widget is a tree whose root is a [`WidgetRoot`] (`Card`, `ListView` or `Basic`) and whose
//! nodes are [`WidgetComponent`]s. Each component type the reference defines has a struct in
//! [`components`] with builders:
//!
//! ```
//! use chatkit_protocol::widgets::{Badge, Card, Row, Text, WidgetRoot};
//!
//! let card = Card::new()
//!     .padding(12)
//!     .child(Text::new("Deploy finished").id("status").weight("semibold"))
//!     .child(Row::new().gap(4).child(Badge::new("prod").color("success")));
//! let json = serde_json::to_value(WidgetRoot::from(card)).unwrap();
//! assert_eq!(json["children"][1]["children"][0]["label"], "prod");
//! ```
//!
//! Tolerance works as in the reference, whose component type is "strict model, else a dynamic
//! model that accepts any props": a node whose `type` this crate does not know, or whose props do
//! not fit the typed struct, is kept as a [`DynamicComponent`] holding its JSON; props a typed
//! struct does not model are kept in its `extra` map. Either way the node round-trips. A node is
//! also kept dynamic when its typed form would write it differently (say, a border object with a
//! key this crate does not know), so parsing never loses anything.
//!
//! On output, `null` props are omitted at every depth, as the reference's widget serializer does.

pub mod components;
mod diff;
pub mod props;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use components::{
    Badge, Basic, BoxContainer, BoxLayout, Button, Caption, Card, Chart, Checkbox, Col, DatePicker,
    Divider, Form, Icon, Image, Input, Label, ListView, ListViewItem, Markdown, RadioGroup, Row,
    Select, Spacer, Text, Textarea, Title, Transition,
};
pub use diff::{apply_widget_update, diff_widget};
pub use props::{
    Border, BorderSpec, Borders, CardAction, ChartSeries, Color, Dimension, EdgeBorder, Editable,
    EditableProps, FloatDimension, ListViewLimit, RadioOption, SelectOption, SeriesProps, Spacing,
    SpacingSides, ThemeColor, WidgetStatus, XAxis, XAxisConfig,
};

use crate::ProtocolError;

/// A widget node: one of the typed components, or a dynamic one this crate does not model.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WidgetComponent {
    /// `Text`.
    Text(Text),
    /// `Title`.
    Title(Title),
    /// `Caption`.
    Caption(Caption),
    /// `Markdown`.
    Markdown(Markdown),
    /// `Badge`.
    Badge(Badge),
    /// `Box`.
    Box(BoxContainer),
    /// `Row`.
    Row(Row),
    /// `Col`.
    Col(Col),
    /// `Form`.
    Form(Form),
    /// `Divider`.
    Divider(Divider),
    /// `Icon`.
    Icon(Icon),
    /// `Image`.
    Image(Image),
    /// `Button`.
    Button(Button),
    /// `Spacer`.
    Spacer(Spacer),
    /// `Select`.
    Select(Select),
    /// `DatePicker`.
    DatePicker(DatePicker),
    /// `Checkbox`.
    Checkbox(Checkbox),
    /// `Input`.
    Input(Input),
    /// `Label`.
    Label(Label),
    /// `RadioGroup`.
    RadioGroup(RadioGroup),
    /// `Textarea`.
    Textarea(Textarea),
    /// `Transition`.
    Transition(Transition),
    /// `Chart`.
    Chart(Chart),
    /// `ListViewItem`.
    ListViewItem(ListViewItem),
    /// `Card` nested inside another widget.
    Card(Card),
    /// `ListView` nested inside another widget.
    ListView(ListView),
    /// `Basic` nested inside another widget.
    Basic(Basic),
    /// A component of a type this crate does not know, or whose props do not fit its struct.
    Dynamic(DynamicComponent),
}

/// The root of a widget tree.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// Typed roots are built, serialized and matched by value; boxing them buys little and makes the
// builders noisier.
#[allow(clippy::large_enum_variant)]
pub enum WidgetRoot {
    /// A card.
    Card(Card),
    /// A list.
    ListView(ListView),
    /// A free layout.
    Basic(Basic),
    /// A root kept as JSON (a template's output with props this crate does not model, or a
    /// root type newer than this crate).
    Dynamic(DynamicComponent),
}

/// A widget node kept as its JSON object, `type` included.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct DynamicComponent(pub Map<String, Value>);

impl DynamicComponent {
    /// The node's `type`.
    pub fn kind(&self) -> &str {
        self.0.get("type").and_then(Value::as_str).unwrap_or("")
    }
}

macro_rules! for_each_component {
    ($value:expr, $component:ident => $body:expr, $dynamic:ident => $dyn_body:expr) => {
        match $value {
            WidgetComponent::Text($component) => $body,
            WidgetComponent::Title($component) => $body,
            WidgetComponent::Caption($component) => $body,
            WidgetComponent::Markdown($component) => $body,
            WidgetComponent::Badge($component) => $body,
            WidgetComponent::Box($component) => $body,
            WidgetComponent::Row($component) => $body,
            WidgetComponent::Col($component) => $body,
            WidgetComponent::Form($component) => $body,
            WidgetComponent::Divider($component) => $body,
            WidgetComponent::Icon($component) => $body,
            WidgetComponent::Image($component) => $body,
            WidgetComponent::Button($component) => $body,
            WidgetComponent::Spacer($component) => $body,
            WidgetComponent::Select($component) => $body,
            WidgetComponent::DatePicker($component) => $body,
            WidgetComponent::Checkbox($component) => $body,
            WidgetComponent::Input($component) => $body,
            WidgetComponent::Label($component) => $body,
            WidgetComponent::RadioGroup($component) => $body,
            WidgetComponent::Textarea($component) => $body,
            WidgetComponent::Transition($component) => $body,
            WidgetComponent::Chart($component) => $body,
            WidgetComponent::ListViewItem($component) => $body,
            WidgetComponent::Card($component) => $body,
            WidgetComponent::ListView($component) => $body,
            WidgetComponent::Basic($component) => $body,
            WidgetComponent::Dynamic($dynamic) => $dyn_body,
        }
    };
}

impl WidgetComponent {
    /// Builds a component from its JSON: typed when its `type` is known and its props fit the
    /// struct without loss, dynamic otherwise. Fails only when the JSON is not an object with a
    /// string `type`, which the reference rejects too.
    pub fn from_json(mut value: Value) -> Result<Self, ProtocolError> {
        drop_nulls(&mut value);
        Self::from_clean_json(value)
    }

    fn from_clean_json(value: Value) -> Result<Self, ProtocolError> {
        let kind = component_type(&value)?;
        let typed = match kind {
            "Text" => typed::<Text>(&value).map(Self::Text),
            "Title" => typed::<Title>(&value).map(Self::Title),
            "Caption" => typed::<Caption>(&value).map(Self::Caption),
            "Markdown" => typed::<Markdown>(&value).map(Self::Markdown),
            "Badge" => typed::<Badge>(&value).map(Self::Badge),
            "Box" => typed::<BoxContainer>(&value).map(Self::Box),
            "Row" => typed::<Row>(&value).map(Self::Row),
            "Col" => typed::<Col>(&value).map(Self::Col),
            "Form" => typed::<Form>(&value).map(Self::Form),
            "Divider" => typed::<Divider>(&value).map(Self::Divider),
            "Icon" => typed::<Icon>(&value).map(Self::Icon),
            "Image" => typed::<Image>(&value).map(Self::Image),
            "Button" => typed::<Button>(&value).map(Self::Button),
            "Spacer" => typed::<Spacer>(&value).map(Self::Spacer),
            "Select" => typed::<Select>(&value).map(Self::Select),
            "DatePicker" => typed::<DatePicker>(&value).map(Self::DatePicker),
            "Checkbox" => typed::<Checkbox>(&value).map(Self::Checkbox),
            "Input" => typed::<Input>(&value).map(Self::Input),
            "Label" => typed::<Label>(&value).map(Self::Label),
            "RadioGroup" => typed::<RadioGroup>(&value).map(Self::RadioGroup),
            "Textarea" => typed::<Textarea>(&value).map(Self::Textarea),
            "Transition" => typed::<Transition>(&value).map(Self::Transition),
            "Chart" => typed::<Chart>(&value).map(Self::Chart),
            "ListViewItem" => typed::<ListViewItem>(&value).map(Self::ListViewItem),
            "Card" => typed::<Card>(&value).map(Self::Card),
            "ListView" => typed::<ListView>(&value).map(Self::ListView),
            "Basic" => typed::<Basic>(&value).map(Self::Basic),
            _ => None,
        };
        Ok(typed.unwrap_or_else(|| Self::Dynamic(into_dynamic(value))))
    }

    /// The component's JSON, as it goes on the wire.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The component's `type`.
    pub fn kind(&self) -> &str {
        match self {
            WidgetComponent::Text(_) => "Text",
            WidgetComponent::Title(_) => "Title",
            WidgetComponent::Caption(_) => "Caption",
            WidgetComponent::Markdown(_) => "Markdown",
            WidgetComponent::Badge(_) => "Badge",
            WidgetComponent::Box(_) => "Box",
            WidgetComponent::Row(_) => "Row",
            WidgetComponent::Col(_) => "Col",
            WidgetComponent::Form(_) => "Form",
            WidgetComponent::Divider(_) => "Divider",
            WidgetComponent::Icon(_) => "Icon",
            WidgetComponent::Image(_) => "Image",
            WidgetComponent::Button(_) => "Button",
            WidgetComponent::Spacer(_) => "Spacer",
            WidgetComponent::Select(_) => "Select",
            WidgetComponent::DatePicker(_) => "DatePicker",
            WidgetComponent::Checkbox(_) => "Checkbox",
            WidgetComponent::Input(_) => "Input",
            WidgetComponent::Label(_) => "Label",
            WidgetComponent::RadioGroup(_) => "RadioGroup",
            WidgetComponent::Textarea(_) => "Textarea",
            WidgetComponent::Transition(_) => "Transition",
            WidgetComponent::Chart(_) => "Chart",
            WidgetComponent::ListViewItem(_) => "ListViewItem",
            WidgetComponent::Card(_) => "Card",
            WidgetComponent::ListView(_) => "ListView",
            WidgetComponent::Basic(_) => "Basic",
            WidgetComponent::Dynamic(dynamic) => dynamic.kind(),
        }
    }

    /// The component's id, if it has one.
    pub fn id(&self) -> Option<&str> {
        for_each_component!(
            self,
            component => component.id.as_deref(),
            dynamic => dynamic.0.get("id").and_then(Value::as_str)
        )
    }

    /// Whether the component is kept as JSON rather than typed.
    pub fn is_dynamic(&self) -> bool {
        matches!(self, WidgetComponent::Dynamic(_))
    }
}

impl WidgetRoot {
    /// Builds a root from its JSON, with the tolerance of [`WidgetComponent::from_json`]. A root
    /// of a type other than `Card`, `ListView` and `Basic` is kept dynamic rather than refused,
    /// so that widgets stored by a newer server still load.
    pub fn from_json(mut value: Value) -> Result<Self, ProtocolError> {
        drop_nulls(&mut value);
        let kind = component_type(&value)?;
        let typed = match kind {
            "Card" => typed::<Card>(&value).map(Self::Card),
            "ListView" => typed::<ListView>(&value).map(Self::ListView),
            "Basic" => typed::<Basic>(&value).map(Self::Basic),
            _ => None,
        };
        Ok(typed.unwrap_or_else(|| Self::Dynamic(into_dynamic(value))))
    }

    /// The root's JSON, as it goes on the wire.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The root's `type`.
    pub fn kind(&self) -> &str {
        match self {
            WidgetRoot::Card(_) => "Card",
            WidgetRoot::ListView(_) => "ListView",
            WidgetRoot::Basic(_) => "Basic",
            WidgetRoot::Dynamic(dynamic) => dynamic.kind(),
        }
    }

    /// The root's id, if it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            WidgetRoot::Card(card) => card.id.as_deref(),
            WidgetRoot::ListView(list) => list.id.as_deref(),
            WidgetRoot::Basic(basic) => basic.id.as_deref(),
            WidgetRoot::Dynamic(dynamic) => dynamic.0.get("id").and_then(Value::as_str),
        }
    }
}

impl From<Card> for WidgetRoot {
    fn from(card: Card) -> Self {
        WidgetRoot::Card(card)
    }
}

impl From<ListView> for WidgetRoot {
    fn from(list: ListView) -> Self {
        WidgetRoot::ListView(list)
    }
}

impl From<Basic> for WidgetRoot {
    fn from(basic: Basic) -> Self {
        WidgetRoot::Basic(basic)
    }
}

impl From<DynamicComponent> for WidgetComponent {
    fn from(dynamic: DynamicComponent) -> Self {
        WidgetComponent::Dynamic(dynamic)
    }
}

impl Serialize for WidgetComponent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        for_each_component!(
            self,
            component => component.serialize(serializer),
            dynamic => dynamic.serialize(serializer)
        )
    }
}

impl<'de> Deserialize<'de> for WidgetComponent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        WidgetComponent::from_json(value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for WidgetRoot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            WidgetRoot::Card(card) => card.serialize(serializer),
            WidgetRoot::ListView(list) => list.serialize(serializer),
            WidgetRoot::Basic(basic) => basic.serialize(serializer),
            WidgetRoot::Dynamic(dynamic) => dynamic.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for WidgetRoot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        WidgetRoot::from_json(value).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for DynamicComponent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        drop_nulls(&mut value);
        component_type(&value).map_err(serde::de::Error::custom)?;
        Ok(into_dynamic(value))
    }
}

fn component_type(value: &Value) -> Result<&str, ProtocolError> {
    match value {
        Value::Object(map) => match map.get("type") {
            Some(Value::String(kind)) => Ok(kind),
            Some(_) => Err(ProtocolError::InvalidWidget(
                "field `type` must be a string".into(),
            )),
            None => Err(ProtocolError::InvalidWidget("missing field `type`".into())),
        },
        _ => Err(ProtocolError::InvalidWidget(
            "a widget component must be a JSON object".into(),
        )),
    }
}

fn into_dynamic(value: Value) -> DynamicComponent {
    match value {
        Value::Object(map) => DynamicComponent(map),
        _ => DynamicComponent::default(),
    }
}

/// Parses `value` as `T`, keeping the result only when it writes back everything `value` holds.
fn typed<T: for<'de> Deserialize<'de> + Serialize>(value: &Value) -> Option<T> {
    let parsed = T::deserialize(value).ok()?;
    let written = serde_json::to_value(&parsed).ok()?;
    covers(&written, value).then_some(parsed)
}

/// Whether `written` carries everything `original` does: every key with an equal value (numbers
/// compared by value, since the reference writes `100` as `100.0` for its float props). Keys only
/// `written` has are defaults the reference fills in as well (an action's `handler`...).
fn covers(written: &Value, original: &Value) -> bool {
    match (written, original) {
        (Value::Object(written), Value::Object(original)) => original.iter().all(|(key, value)| {
            written
                .get(key)
                .is_some_and(|written| covers(written, value))
        }),
        (Value::Array(written), Value::Array(original)) => {
            written.len() == original.len()
                && written
                    .iter()
                    .zip(original)
                    .all(|(written, original)| covers(written, original))
        }
        (Value::Number(written), Value::Number(original)) => {
            written == original || written.as_f64() == original.as_f64()
        }
        _ => written == original,
    }
}

/// Removes `null` object values and array elements at every depth, as the reference's widget
/// serializer does.
pub(crate) fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, value| !value.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => {
            items.retain(|value| !value.is_null());
            items.iter_mut().for_each(drop_nulls);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_components_keep_props_they_do_not_model() {
        let input = json!({"type": "Text", "value": "hi", "futureProp": {"a": 1}, "color": null});
        let component = WidgetComponent::from_json(input).expect("parses");
        let WidgetComponent::Text(text) = &component else {
            panic!("expected a typed Text, got {component:?}");
        };
        assert_eq!(text.extra.get("futureProp"), Some(&json!({"a": 1})));
        assert_eq!(
            component.to_json(),
            json!({"type": "Text", "value": "hi", "futureProp": {"a": 1}})
        );
    }

    #[test]
    fn props_that_do_not_fit_keep_the_component_dynamic() {
        // `value` must be a string in the typed model; the reference keeps such nodes dynamic.
        let input = json!({"type": "Text", "value": 5});
        let component = WidgetComponent::from_json(input.clone()).expect("parses");
        assert!(component.is_dynamic());
        assert_eq!(component.to_json(), input);
        // A border object with a key the typed border does not know.
        let input = json!({"type": "Box", "border": {"size": 1, "glow": true}});
        let component = WidgetComponent::from_json(input.clone()).expect("parses");
        assert!(component.is_dynamic());
        assert_eq!(component.to_json(), input);
    }

    #[test]
    fn float_props_are_written_as_the_reference_writes_them() {
        let component = WidgetComponent::from_json(json!({"type": "Box", "height": 100, "gap": 2}))
            .expect("parses");
        assert_eq!(component.kind(), "Box");
        assert!(!component.is_dynamic());
        assert_eq!(
            serde_json::to_string(&component).expect("serializes"),
            r#"{"type":"Box","gap":2,"height":100.0}"#
        );
    }

    #[test]
    fn a_component_without_a_type_is_an_error_that_says_so() {
        let error = WidgetComponent::from_json(json!({"value": "x"})).expect_err("no type");
        assert!(error.to_string().contains("`type`"), "{error}");
        let error = serde_json::from_value::<WidgetRoot>(json!([1])).expect_err("not an object");
        assert!(error.to_string().contains("object"), "{error}");
    }

    #[test]
    fn unknown_roots_survive() {
        let input = json!({"type": "Sheet", "children": [{"type": "Text", "value": "x"}]});
        let root: WidgetRoot = serde_json::from_value(input.clone()).expect("parses");
        assert_eq!(root.kind(), "Sheet");
        assert_eq!(root.to_json(), input);
    }
}
