//! The typed widget components, one struct per component type the reference defines.
//!
//! Every struct serializes with its `type` tag and camelCase prop names, omits unset props, and
//! keeps props it does not model in `extra`, so that a widget written by a newer server (or a
//! widget template) survives a round trip. Builders take `impl Into<...>` so that
//! `Text::new("Hi").size("lg").color("secondary")` reads like the JSON it produces.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::WidgetComponent;
use super::props::{
    BorderSpec, CardAction, ChartSeries, Color, Dimension, Editable, FloatDimension, ListViewLimit,
    RadioOption, SelectOption, Spacing, WidgetStatus, XAxis,
};
use crate::actions::ActionConfig;

/// Collects the props a struct does not model. The `type` tag is not one of them: serde hands it
/// to flattened fields too, and keeping it would write it twice.
fn extra_props<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Map<String, Value>, D::Error> {
    let mut extra = Map::deserialize(deserializer)?;
    extra.remove("type");
    Ok(extra)
}

/// Defines a component struct: common `key`/`id`, the listed fields, the `extra` map, builder
/// setters for the optional fields and the conversion into [`WidgetComponent`].
macro_rules! component {
    (
        $(#[$meta:meta])*
        $variant:ident($name:ident) = $tag:literal;
        required { $( $(#[$rmeta:meta])* $rfield:ident : $rty:ty, )* }
        optional { $( $(#[$ometa:meta])* $ofield:ident : $oty:ty, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(tag = "type", rename = $tag, rename_all = "camelCase")]
        pub struct $name {
            /// React-style key that identifies the component among its siblings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub key: Option<String>,
            /// Component id; streaming updates and component updates address components by it.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            $( $(#[$rmeta])* pub $rfield: $rty, )*
            $(
                $(#[$ometa])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $ofield: Option<$oty>,
            )*
            /// Props this crate does not model, kept as they came so that they survive a round trip.
            #[serde(flatten, deserialize_with = "extra_props")]
            pub extra: Map<String, Value>,
        }

        impl $name {
            /// Sets the component's key.
            pub fn key(mut self, key: impl Into<String>) -> Self {
                self.key = Some(key.into());
                self
            }

            /// Sets the component's id.
            pub fn id(mut self, id: impl Into<String>) -> Self {
                self.id = Some(id.into());
                self
            }

            $(
                #[doc = concat!("Sets `", stringify!($ofield), "`.")]
                pub fn $ofield(mut self, value: impl Into<$oty>) -> Self {
                    self.$ofield = Some(value.into());
                    self
                }
            )*

            /// Sets a prop this crate does not model. A `null` value is ignored: the reference
            /// never writes `null` props.
            pub fn prop(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
                let value = value.into();
                if !value.is_null() {
                    self.extra.insert(name.into(), value);
                }
                self
            }
        }

        impl From<$name> for WidgetComponent {
            fn from(component: $name) -> Self {
                WidgetComponent::$variant(component)
            }
        }
    };
}

/// Adds `child` and `children` builders for a `children: Vec<WidgetComponent>` field.
macro_rules! children_builders {
    ($name:ident) => {
        impl $name {
            /// Appends a child component.
            pub fn child(mut self, child: impl Into<WidgetComponent>) -> Self {
                self.children.push(child.into());
                self
            }

            /// Appends child components.
            pub fn children<C: Into<WidgetComponent>>(
                mut self,
                children: impl IntoIterator<Item = C>,
            ) -> Self {
                self.children.extend(children.into_iter().map(Into::into));
                self
            }
        }
    };
}

/// Adds builders for the flattened [`BoxLayout`] of a container.
macro_rules! layout_builders {
    ($name:ident { $( $field:ident : $ty:ty, )* }) => {
        impl $name {
            /// Appends a child component.
            pub fn child(mut self, child: impl Into<WidgetComponent>) -> Self {
                self.layout.children.get_or_insert_with(Vec::new).push(child.into());
                self
            }

            /// Appends child components.
            pub fn children<C: Into<WidgetComponent>>(
                mut self,
                children: impl IntoIterator<Item = C>,
            ) -> Self {
                self.layout
                    .children
                    .get_or_insert_with(Vec::new)
                    .extend(children.into_iter().map(Into::into));
                self
            }

            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.layout.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}

macro_rules! with_layout_fields {
    ($($name:ident),*) => {
        $(
            layout_builders!($name {
                align: String,
                justify: String,
                wrap: String,
                flex: Dimension,
                gap: Dimension,
                height: FloatDimension,
                width: FloatDimension,
                size: FloatDimension,
                min_height: Dimension,
                min_width: Dimension,
                min_size: Dimension,
                max_height: Dimension,
                max_width: Dimension,
                max_size: Dimension,
                padding: Spacing,
                margin: Spacing,
                border: BorderSpec,
                radius: String,
                background: Color,
                aspect_ratio: FloatDimension,
            });
        )*
    };
}

/// Layout props shared by the flex containers (`Box`, `Row`, `Col`, `Form`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoxLayout {
    /// Child components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<WidgetComponent>>,
    /// Cross-axis alignment of children (`start`, `center`, `end`, `baseline`, `stretch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<String>,
    /// Main-axis distribution of children (`start`, `between`, `evenly`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justify: Option<String>,
    /// Wrap behaviour (`nowrap`, `wrap`, `wrap-reverse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap: Option<String>,
    /// Flex grow/shrink factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flex: Option<Dimension>,
    /// Gap between children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<Dimension>,
    /// Height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<FloatDimension>,
    /// Width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<FloatDimension>,
    /// Width and height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<FloatDimension>,
    /// Minimum height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_height: Option<Dimension>,
    /// Minimum width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_width: Option<Dimension>,
    /// Minimum width and height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<Dimension>,
    /// Maximum height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<Dimension>,
    /// Maximum width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<Dimension>,
    /// Maximum width and height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<Dimension>,
    /// Inner padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<Spacing>,
    /// Outer margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<Spacing>,
    /// Border.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub border: Option<BorderSpec>,
    /// Corner radius token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<String>,
    /// Background color.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Color>,
    /// Aspect ratio (`1.5`, `"16/9"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<FloatDimension>,
}

component! {
    /// Plain text with typography controls; its `value` can be streamed.
    Text(Text) = "Text";
    required {
        /// The text.
        value: String,
    }
    optional {
        /// Whether the value is still streaming in (streaming-friendly transitions).
        streaming: bool,
        /// Italic style.
        italic: bool,
        /// Line-through decoration.
        line_through: bool,
        /// Color.
        color: Color,
        /// Font weight token (`normal`, `medium`, `semibold`, `bold`).
        weight: String,
        /// Width of the text container.
        width: FloatDimension,
        /// Size token (`xs` to `xl`).
        size: String,
        /// Horizontal alignment (`start`, `center`, `end`).
        text_align: String,
        /// Truncate overflow with an ellipsis.
        truncate: bool,
        /// Minimum number of lines to reserve.
        min_lines: i64,
        /// Maximum number of lines shown.
        max_lines: i64,
        /// Inline editing: `false` or editor options.
        editable: Editable,
    }
}

impl Text {
    /// A text component.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

component! {
    /// Markdown content; its `value` can be streamed.
    Markdown(Markdown) = "Markdown";
    required {
        /// Markdown source.
        value: String,
    }
    optional {
        /// Whether the value is still streaming in.
        streaming: bool,
    }
}

impl Markdown {
    /// A Markdown component.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A prominent headline.
    Title(Title) = "Title";
    required {
        /// The text.
        value: String,
    }
    optional {
        /// Color.
        color: Color,
        /// Font weight token.
        weight: String,
        /// Size token (`sm` to `5xl`).
        size: String,
        /// Horizontal alignment.
        text_align: String,
        /// Truncate overflow with an ellipsis.
        truncate: bool,
        /// Maximum number of lines shown.
        max_lines: i64,
    }
}

impl Title {
    /// A title.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

component! {
    /// Supporting caption text.
    Caption(Caption) = "Caption";
    required {
        /// The text.
        value: String,
    }
    optional {
        /// Color.
        color: Color,
        /// Font weight token.
        weight: String,
        /// Size token (`sm`, `md`, `lg`).
        size: String,
        /// Horizontal alignment.
        text_align: String,
        /// Truncate overflow with an ellipsis.
        truncate: bool,
        /// Maximum number of lines shown.
        max_lines: i64,
    }
}

impl Caption {
    /// A caption.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A small badge for a status or category.
    Badge(Badge) = "Badge";
    required {
        /// Text inside the badge.
        label: String,
    }
    optional {
        /// Badge color token (`secondary`, `success`, `danger`, `warning`, `info`, `discovery`).
        color: String,
        /// Style (`solid`, `soft`, `outline`).
        variant: String,
        /// Size token (`sm`, `md`, `lg`).
        size: String,
        /// Fully rounded.
        pill: bool,
    }
}

impl Badge {
    /// A badge.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A flex container with a direction.
    Box(BoxContainer) = "Box";
    required {
        /// Layout props and children.
        #[serde(flatten)]
        layout: BoxLayout,
    }
    optional {
        /// Flex direction (`row` or `col`).
        direction: String,
    }
}

component! {
    /// A horizontal flex container.
    Row(Row) = "Row";
    required {
        /// Layout props and children.
        #[serde(flatten)]
        layout: BoxLayout,
    }
    optional {}
}

component! {
    /// A vertical flex container.
    Col(Col) = "Col";
    required {
        /// Layout props and children.
        #[serde(flatten)]
        layout: BoxLayout,
    }
    optional {}
}

component! {
    /// A form: a flex container whose submission dispatches `onSubmitAction`.
    Form(Form) = "Form";
    required {
        /// Layout props and children.
        #[serde(flatten)]
        layout: BoxLayout,
    }
    optional {
        /// Action dispatched on submit.
        on_submit_action: ActionConfig,
        /// Flex direction (`row` or `col`).
        direction: String,
    }
}

with_layout_fields!(BoxContainer, Row, Col, Form);

impl BoxContainer {
    /// An empty box.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Col {
    /// An empty column.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }
}

component! {
    /// A divider line between sections.
    Divider(Divider) = "Divider";
    required {}
    optional {
        /// Line color.
        color: Color,
        /// Thickness.
        size: Dimension,
        /// Spacing above and below.
        spacing: Dimension,
        /// Flush to the container's edges.
        flush: bool,
    }
}

impl Divider {
    /// A divider.
    pub fn new() -> Self {
        Self::default()
    }
}

component! {
    /// A built-in (or `vendor:`/`lucide:`) icon.
    Icon(Icon) = "Icon";
    required {
        /// Icon name.
        name: String,
    }
    optional {
        /// Color.
        color: Color,
        /// Size token (`xs` to `3xl`).
        size: String,
    }
}

impl Icon {
    /// An icon.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// An image with sizing and fitting controls.
    Image(Image) = "Image";
    required {
        /// Image URL.
        src: String,
    }
    optional {
        /// Alternative text.
        alt: String,
        /// Fit (`cover`, `contain`, `fill`, `scale-down`, `none`).
        fit: String,
        /// Focal position (`top left`, `center`...).
        position: String,
        /// Corner radius token.
        radius: String,
        /// Subtle frame.
        frame: bool,
        /// Flush to the container's edges.
        flush: bool,
        /// Height.
        height: Dimension,
        /// Width.
        width: Dimension,
        /// Width and height.
        size: Dimension,
        /// Minimum height.
        min_height: Dimension,
        /// Minimum width.
        min_width: Dimension,
        /// Minimum width and height.
        min_size: Dimension,
        /// Maximum height.
        max_height: Dimension,
        /// Maximum width.
        max_width: Dimension,
        /// Maximum width and height.
        max_size: Dimension,
        /// Outer margin.
        margin: Spacing<i64>,
        /// Background color.
        background: Color,
        /// Aspect ratio.
        aspect_ratio: FloatDimension,
        /// Flex grow/shrink factor.
        flex: Dimension,
    }
}

impl Image {
    /// An image.
    pub fn new(src: impl Into<String>) -> Self {
        Self {
            src: src.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A button, optionally wired to an action.
    Button(Button) = "Button";
    required {}
    optional {
        /// Submit the nearest form.
        submit: bool,
        /// Label.
        label: String,
        /// Action dispatched on click.
        on_click_action: ActionConfig,
        /// Icon before the label.
        icon_start: String,
        /// Icon after the label.
        icon_end: String,
        /// Style preset (`primary`, `secondary`).
        style: String,
        /// Icon size token.
        icon_size: String,
        /// Color token (`primary`, `success`, `danger`...).
        color: String,
        /// Variant (`solid`, `soft`, `outline`, `ghost`).
        variant: String,
        /// Size token (`3xs` to `3xl`).
        size: String,
        /// Fully rounded.
        pill: bool,
        /// Same width and height.
        uniform: bool,
        /// Full width.
        block: bool,
        /// Disabled.
        disabled: bool,
    }
}

impl Button {
    /// A button with a label.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: Some(label.into()),
            ..Self::default()
        }
    }
}

component! {
    /// Flexible space that pushes siblings apart.
    Spacer(Spacer) = "Spacer";
    required {}
    optional {
        /// Minimum size along the flex direction.
        min_size: Dimension,
    }
}

impl Spacer {
    /// A spacer.
    pub fn new() -> Self {
        Self::default()
    }
}

component! {
    /// A select dropdown.
    Select(Select) = "Select";
    required {
        /// Form field name.
        name: String,
        /// Options.
        options: Vec<SelectOption>,
    }
    optional {
        /// Action dispatched when the value changes.
        on_change_action: ActionConfig,
        /// Placeholder.
        placeholder: String,
        /// Initial value.
        default_value: String,
        /// Variant token.
        variant: String,
        /// Size token.
        size: String,
        /// Fully rounded.
        pill: bool,
        /// Full width.
        block: bool,
        /// Show a clear control.
        clearable: bool,
        /// Disabled.
        disabled: bool,
        /// Enable searching the options.
        searchable: bool,
    }
}

impl Select {
    /// A select with no options yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Appends an option.
    pub fn option(mut self, option: SelectOption) -> Self {
        self.options.push(option);
        self
    }
}

component! {
    /// A date picker. Dates are kept as the ISO-8601 text they came as: the client reads a naive
    /// date as local time and a `Z` date as UTC, so rewriting them would move the date shown.
    DatePicker(DatePicker) = "DatePicker";
    required {
        /// Form field name.
        name: String,
    }
    optional {
        /// Action dispatched when the date changes.
        on_change_action: ActionConfig,
        /// Placeholder.
        placeholder: String,
        /// Initial date (ISO-8601).
        default_value: String,
        /// Earliest selectable date (ISO-8601).
        min: String,
        /// Latest selectable date (ISO-8601).
        max: String,
        /// Variant token.
        variant: String,
        /// Size token.
        size: String,
        /// Side the calendar opens on.
        side: String,
        /// Alignment of the calendar.
        align: String,
        /// Fully rounded.
        pill: bool,
        /// Full width.
        block: bool,
        /// Show a clear control.
        clearable: bool,
        /// Disabled.
        disabled: bool,
    }
}

impl DatePicker {
    /// A date picker.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A checkbox.
    Checkbox(Checkbox) = "Checkbox";
    required {
        /// Form field name.
        name: String,
    }
    optional {
        /// Label.
        label: String,
        /// Initially checked.
        default_checked: bool,
        /// Action dispatched when toggled.
        on_change_action: ActionConfig,
        /// Disabled.
        disabled: bool,
        /// Required for submission.
        required: bool,
    }
}

impl Checkbox {
    /// A checkbox.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A single-line text input.
    Input(Input) = "Input";
    required {
        /// Form field name.
        name: String,
    }
    optional {
        /// Native input type (`text`, `email`, `number`...).
        input_type: String,
        /// Initial value.
        default_value: String,
        /// Required for submission.
        required: bool,
        /// Validation regex.
        pattern: String,
        /// Placeholder.
        placeholder: String,
        /// Allow password managers and autofill extensions.
        allow_autofill_extensions: bool,
        /// Select the content on mount.
        auto_select: bool,
        /// Focus on mount.
        auto_focus: bool,
        /// Disabled.
        disabled: bool,
        /// Variant (`soft`, `outline`).
        variant: String,
        /// Size token.
        size: String,
        /// Gutter size token.
        gutter_size: String,
        /// Fully rounded.
        pill: bool,
    }
}

impl Input {
    /// An input.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A form label.
    Label(Label) = "Label";
    required {
        /// Text.
        value: String,
        /// Name of the field described.
        field_name: String,
    }
    optional {
        /// Size token.
        size: String,
        /// Font weight token.
        weight: String,
        /// Horizontal alignment.
        text_align: String,
        /// Color.
        color: Color,
    }
}

impl Label {
    /// A label for `field_name`.
    pub fn new(value: impl Into<String>, field_name: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            field_name: field_name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A group of radio buttons.
    RadioGroup(RadioGroup) = "RadioGroup";
    required {
        /// Form field name.
        name: String,
    }
    optional {
        /// Options.
        options: Vec<RadioOption>,
        /// Accessible label.
        aria_label: String,
        /// Action dispatched when the selection changes.
        on_change_action: ActionConfig,
        /// Initially selected value.
        default_value: String,
        /// Layout direction (`row`, `col`).
        direction: String,
        /// Disabled.
        disabled: bool,
        /// Required for submission.
        required: bool,
    }
}

impl RadioGroup {
    /// A radio group.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Appends an option.
    pub fn option(mut self, option: RadioOption) -> Self {
        self.options.get_or_insert_with(Vec::new).push(option);
        self
    }
}

component! {
    /// A multi-line text input.
    Textarea(Textarea) = "Textarea";
    required {
        /// Form field name.
        name: String,
    }
    optional {
        /// Initial value.
        default_value: String,
        /// Required for submission.
        required: bool,
        /// Validation regex.
        pattern: String,
        /// Placeholder.
        placeholder: String,
        /// Select the content on mount.
        auto_select: bool,
        /// Focus on mount.
        auto_focus: bool,
        /// Disabled.
        disabled: bool,
        /// Variant (`soft`, `outline`).
        variant: String,
        /// Size token.
        size: String,
        /// Gutter size token.
        gutter_size: String,
        /// Initial number of rows.
        rows: i64,
        /// Grow and shrink with the content.
        auto_resize: bool,
        /// Maximum rows when resizing.
        max_rows: i64,
        /// Allow password managers and autofill extensions.
        allow_autofill_extensions: bool,
    }
}

impl Textarea {
    /// A text area.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// Animates layout changes of its single child.
    Transition(Transition) = "Transition";
    required {
        /// The child (a single component, not a list).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        children: Option<std::boxed::Box<WidgetComponent>>,
    }
    optional {}
}

impl Transition {
    /// A transition around `child`.
    pub fn new(child: impl Into<WidgetComponent>) -> Self {
        Self {
            children: Some(std::boxed::Box::new(child.into())),
            ..Self::default()
        }
    }
}

component! {
    /// A bar, line or area chart.
    Chart(Chart) = "Chart";
    required {
        /// Data rows: field name to value.
        data: Vec<Map<String, Value>>,
        /// Series drawn from the rows.
        series: Vec<ChartSeries>,
        /// X axis.
        x_axis: XAxis,
    }
    optional {
        /// Show the Y axis.
        show_y_axis: bool,
        /// Show a legend.
        show_legend: bool,
        /// Show a tooltip on hover.
        show_tooltip: bool,
        /// Gap between bars of a category, in pixels.
        bar_gap: i64,
        /// Gap between categories, in pixels.
        bar_category_gap: i64,
        /// Flex grow/shrink factor.
        flex: Dimension,
        /// Height.
        height: Dimension,
        /// Width.
        width: Dimension,
        /// Width and height.
        size: Dimension,
        /// Minimum height.
        min_height: Dimension,
        /// Minimum width.
        min_width: Dimension,
        /// Minimum width and height.
        min_size: Dimension,
        /// Maximum height.
        max_height: Dimension,
        /// Maximum width.
        max_width: Dimension,
        /// Maximum width and height.
        max_size: Dimension,
        /// Aspect ratio of the chart area.
        aspect_ratio: FloatDimension,
    }
}

impl Chart {
    /// A chart with categories from `x_axis` and no data yet.
    pub fn new(x_axis: impl Into<XAxis>) -> Self {
        Self {
            x_axis: x_axis.into(),
            ..Self::default()
        }
    }

    /// Appends a data row.
    pub fn row(mut self, row: Map<String, Value>) -> Self {
        self.data.push(row);
        self
    }

    /// Appends a series.
    pub fn series(mut self, series: ChartSeries) -> Self {
        self.series.push(series);
        self
    }
}

component! {
    /// A row of a `ListView`.
    ListViewItem(ListViewItem) = "ListViewItem";
    required {
        /// Content.
        children: Vec<WidgetComponent>,
    }
    optional {
        /// Action dispatched on click.
        on_click_action: ActionConfig,
        /// Gap between children.
        gap: Dimension,
        /// Vertical alignment of the content.
        align: String,
    }
}

children_builders!(ListViewItem);

impl ListViewItem {
    /// An empty list item.
    pub fn new() -> Self {
        Self::default()
    }
}

component! {
    /// A root: a list of items with an optional status header.
    ListView(ListView) = "ListView";
    required {
        /// The items.
        children: Vec<ListViewItem>,
    }
    optional {
        /// Items shown before "Show more".
        limit: ListViewLimit,
        /// Status header.
        status: WidgetStatus,
        /// Force the `light` or `dark` theme.
        theme: String,
    }
}

impl ListView {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an item.
    pub fn item(mut self, item: ListViewItem) -> Self {
        self.children.push(item);
        self
    }
}

component! {
    /// A root: a card that structures content, optionally as a form with confirm/cancel.
    Card(Card) = "Card";
    required {
        /// Content.
        children: Vec<WidgetComponent>,
    }
    optional {
        /// Treat the card as a form, so confirm/cancel capture its fields.
        as_form: bool,
        /// Background color.
        background: Color,
        /// Size token (`sm`, `md`, `lg`, `full`).
        size: String,
        /// Inner padding.
        padding: Spacing,
        /// Status header.
        status: WidgetStatus,
        /// Collapse the body once the main action completed.
        collapsed: bool,
        /// Confirm button.
        confirm: CardAction,
        /// Cancel button.
        cancel: CardAction,
        /// Force the `light` or `dark` theme.
        theme: String,
    }
}

children_builders!(Card);

impl Card {
    /// An empty card.
    pub fn new() -> Self {
        Self::default()
    }
}

component! {
    /// A root for free layout: children and any props (the reference types it dynamically).
    Basic(Basic) = "Basic";
    required {
        /// Content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        children: Option<Vec<WidgetComponent>>,
    }
    optional {}
}

impl Basic {
    /// An empty basic root.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a child component.
    pub fn child(mut self, child: impl Into<WidgetComponent>) -> Self {
        self.children
            .get_or_insert_with(Vec::new)
            .push(child.into());
        self
    }

    /// Appends child components.
    pub fn children<C: Into<WidgetComponent>>(
        mut self,
        children: impl IntoIterator<Item = C>,
    ) -> Self {
        self.children
            .get_or_insert_with(Vec::new)
            .extend(children.into_iter().map(Into::into));
        self
    }
}
