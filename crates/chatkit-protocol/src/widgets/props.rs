//! Value types that widget props are made of: colors, dimensions, spacing, borders, options.
//!
//! Design tokens (sizes, weights, variants...) are plain strings: the reference's token lists grow
//! with every ChatKit release, and a widget written by a newer server must still survive a round
//! trip through this crate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::actions::ActionConfig;

/// A color: a token (`"secondary"`, `"red-500"`, a CSS color) or a theme-aware pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Color {
    /// A color token or CSS color string.
    Token(String),
    /// Different colors for the light and dark themes.
    Theme(ThemeColor),
}

/// Color values for the light and dark themes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThemeColor {
    /// Color used when the theme is dark.
    pub dark: String,
    /// Color used when the theme is light.
    pub light: String,
}

impl ThemeColor {
    /// A theme-aware color.
    pub fn new(light: impl Into<String>, dark: impl Into<String>) -> Self {
        Self {
            dark: dark.into(),
            light: light.into(),
        }
    }
}

impl From<&str> for Color {
    fn from(token: &str) -> Self {
        Color::Token(token.to_owned())
    }
}

impl From<String> for Color {
    fn from(token: String) -> Self {
        Color::Token(token)
    }
}

impl From<ThemeColor> for Color {
    fn from(theme: ThemeColor) -> Self {
        Color::Theme(theme)
    }
}

/// A dimension the reference types as `int | str`: pixels or a CSS length (`"50%"`, `"2rem"`).
///
/// The reference has two such types, integer and float ([`FloatDimension`]); they differ on the
/// wire (`100` against `100.0`), so each prop uses the one the reference declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dimension {
    /// Pixels (or spacing units, depending on the prop).
    Px(i64),
    /// A CSS string.
    Css(String),
}

impl Default for Dimension {
    fn default() -> Self {
        Dimension::Px(0)
    }
}

impl From<i64> for Dimension {
    fn from(px: i64) -> Self {
        Dimension::Px(px)
    }
}

impl From<i32> for Dimension {
    fn from(px: i32) -> Self {
        Dimension::Px(px.into())
    }
}

impl From<u32> for Dimension {
    fn from(px: u32) -> Self {
        Dimension::Px(px.into())
    }
}

impl From<&str> for Dimension {
    fn from(css: &str) -> Self {
        Dimension::Css(css.to_owned())
    }
}

impl From<String> for Dimension {
    fn from(css: String) -> Self {
        Dimension::Css(css)
    }
}

/// A dimension the reference types as `float | str`; written with a fraction (`100.0`) as the
/// reference writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FloatDimension {
    /// A number (pixels, spacing units or a ratio, depending on the prop).
    Number(f64),
    /// A CSS string (`"16/9"`, `"50%"`).
    Css(String),
}

impl From<f64> for FloatDimension {
    fn from(number: f64) -> Self {
        FloatDimension::Number(number)
    }
}

impl From<i32> for FloatDimension {
    fn from(number: i32) -> Self {
        FloatDimension::Number(number.into())
    }
}

impl From<u32> for FloatDimension {
    fn from(number: u32) -> Self {
        FloatDimension::Number(number.into())
    }
}

impl From<&str> for FloatDimension {
    fn from(css: &str) -> Self {
        FloatDimension::Css(css.to_owned())
    }
}

impl From<String> for FloatDimension {
    fn from(css: String) -> Self {
        FloatDimension::Css(css)
    }
}

/// Padding or margin: one value for every side, or per side.
///
/// `N` is the number type of the single value: `f64` for most props, `i64` for `Image.margin`,
/// which the reference types as `int | str | Spacing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Spacing<N = f64> {
    /// The same spacing on every side.
    Number(N),
    /// A CSS string for every side.
    Css(String),
    /// Per-side values.
    Sides(SpacingSides),
}

impl From<i32> for Spacing<f64> {
    fn from(number: i32) -> Self {
        Spacing::Number(number.into())
    }
}

impl From<f64> for Spacing<f64> {
    fn from(number: f64) -> Self {
        Spacing::Number(number)
    }
}

impl From<i32> for Spacing<i64> {
    fn from(number: i32) -> Self {
        Spacing::Number(number.into())
    }
}

impl From<i64> for Spacing<i64> {
    fn from(number: i64) -> Self {
        Spacing::Number(number)
    }
}

impl<N> From<&str> for Spacing<N> {
    fn from(css: &str) -> Self {
        Spacing::Css(css.to_owned())
    }
}

impl<N> From<SpacingSides> for Spacing<N> {
    fn from(sides: SpacingSides) -> Self {
        Spacing::Sides(sides)
    }
}

/// Per-side spacing; `x` and `y` set both horizontal or both vertical sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpacingSides {
    /// Top spacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<FloatDimension>,
    /// Right spacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right: Option<FloatDimension>,
    /// Bottom spacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottom: Option<FloatDimension>,
    /// Left spacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<FloatDimension>,
    /// Left and right spacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<FloatDimension>,
    /// Top and bottom spacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<FloatDimension>,
}

/// A container border: a width in pixels, one border for every edge, or per-edge borders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
// Borders are rare and small in absolute terms; boxing would only make them harder to build.
#[allow(clippy::large_enum_variant)]
pub enum BorderSpec {
    /// Width in pixels on every edge.
    Width(i64),
    /// The same border on every edge.
    Edge(Border),
    /// Per-edge borders.
    Edges(Borders),
}

impl From<i64> for BorderSpec {
    fn from(width: i64) -> Self {
        BorderSpec::Width(width)
    }
}

impl From<i32> for BorderSpec {
    fn from(width: i32) -> Self {
        BorderSpec::Width(width.into())
    }
}

impl From<Border> for BorderSpec {
    fn from(border: Border) -> Self {
        BorderSpec::Edge(border)
    }
}

impl From<Borders> for BorderSpec {
    fn from(borders: Borders) -> Self {
        BorderSpec::Edges(borders)
    }
}

/// One border.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Border {
    /// Thickness in pixels.
    pub size: i64,
    /// Color token, CSS color or theme-aware pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    /// Line style (`solid`, `dashed`, `dotted`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
}

/// An edge of [`Borders`]: a width or a full border.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EdgeBorder {
    /// Width in pixels.
    Width(i64),
    /// A full border.
    Edge(Border),
}

/// Per-edge borders; `x` and `y` set both horizontal or both vertical edges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Borders {
    /// Top edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<EdgeBorder>,
    /// Right edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right: Option<EdgeBorder>,
    /// Bottom edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottom: Option<EdgeBorder>,
    /// Left edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<EdgeBorder>,
    /// Left and right edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<EdgeBorder>,
    /// Top and bottom edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<EdgeBorder>,
}

/// A status header shown above a card or list: text with a favicon or an icon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetStatus {
    /// Status text.
    pub text: String,
    /// URL of a favicon shown before the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favicon: Option<String>,
    /// Whether the favicon gets a frame for contrast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<bool>,
    /// Icon shown before the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

impl WidgetStatus {
    /// A status with an icon.
    pub fn with_icon(text: impl Into<String>, icon: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            icon: Some(icon.into()),
            ..Self::default()
        }
    }

    /// A status with a favicon.
    pub fn with_favicon(text: impl Into<String>, favicon: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            favicon: Some(favicon.into()),
            ..Self::default()
        }
    }
}

/// A confirm or cancel button in a card's footer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardAction {
    /// Button label.
    pub label: String,
    /// Action dispatched when pressed.
    pub action: ActionConfig,
}

impl CardAction {
    /// A footer button.
    pub fn new(label: impl Into<String>, action: ActionConfig) -> Self {
        Self {
            label: label.into(),
            action,
        }
    }
}

/// An option of a `Select`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectOption {
    /// Value submitted with the form.
    pub value: String,
    /// Label shown.
    pub label: String,
    /// Whether the option is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Secondary text shown below the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl SelectOption {
    /// An option.
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
            ..Self::default()
        }
    }
}

/// An option of a `RadioGroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadioOption {
    /// Label shown next to the radio button.
    pub label: String,
    /// Value submitted when selected.
    pub value: String,
    /// Whether the option is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

impl RadioOption {
    /// An option.
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            disabled: None,
        }
    }
}

/// The `editable` prop of `Text`: `false`, or the options of an inline editor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Editable {
    /// `false`: not editable.
    Flag(bool),
    /// Editable, with these options.
    Props(EditableProps),
}

/// Options of an editable `Text`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditableProps {
    /// Form field name used when submitting.
    pub name: String,
    /// Focus the editor when it appears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_focus: Option<bool>,
    /// Select all text on focus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_select: Option<bool>,
    /// Native autocomplete hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_complete: Option<String>,
    /// Allow password managers and autofill extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_autofill_extensions: Option<bool>,
    /// Validation regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Placeholder text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// Whether a value is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// How many items a `ListView` shows before "Show more": a count or `"auto"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ListViewLimit {
    /// At most this many items.
    Count(i64),
    /// A keyword; the reference defines `"auto"`.
    Keyword(String),
}

impl From<i64> for ListViewLimit {
    fn from(count: i64) -> Self {
        ListViewLimit::Count(count)
    }
}

impl From<i32> for ListViewLimit {
    fn from(count: i32) -> Self {
        ListViewLimit::Count(count.into())
    }
}

impl From<&str> for ListViewLimit {
    fn from(keyword: &str) -> Self {
        ListViewLimit::Keyword(keyword.to_owned())
    }
}

/// The x axis of a `Chart`: the data key of the categories, or a full configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum XAxis {
    /// The field of each data row holding the category.
    Key(String),
    /// A full configuration.
    Config(XAxisConfig),
}

impl Default for XAxis {
    fn default() -> Self {
        XAxis::Key(String::new())
    }
}

impl From<&str> for XAxis {
    fn from(key: &str) -> Self {
        XAxis::Key(key.to_owned())
    }
}

impl From<String> for XAxis {
    fn from(key: String) -> Self {
        XAxis::Key(key)
    }
}

impl From<XAxisConfig> for XAxis {
    fn from(config: XAxisConfig) -> Self {
        XAxis::Config(config)
    }
}

/// Configuration of a chart's x axis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XAxisConfig {
    /// The field of each data row holding the category.
    pub data_key: String,
    /// Hide the axis line, ticks and labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide: Option<bool>,
    /// Display labels for tick values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A chart series, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum ChartSeries {
    /// Bars; series sharing a `stack` id stack together.
    #[serde(rename = "bar")]
    Bar(SeriesProps),
    /// A filled area; stackable, with an interpolation curve.
    #[serde(rename = "area")]
    Area(SeriesProps),
    /// A line, with an interpolation curve.
    #[serde(rename = "line")]
    Line(SeriesProps),
}

impl ChartSeries {
    /// A bar series of `data_key`.
    pub fn bar(data_key: impl Into<String>) -> Self {
        ChartSeries::Bar(SeriesProps::new(data_key))
    }

    /// An area series of `data_key`.
    pub fn area(data_key: impl Into<String>) -> Self {
        ChartSeries::Area(SeriesProps::new(data_key))
    }

    /// A line series of `data_key`.
    pub fn line(data_key: impl Into<String>) -> Self {
        ChartSeries::Line(SeriesProps::new(data_key))
    }

    /// The series' props.
    pub fn props_mut(&mut self) -> &mut SeriesProps {
        match self {
            ChartSeries::Bar(props) | ChartSeries::Area(props) | ChartSeries::Line(props) => props,
        }
    }

    /// Sets the legend label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.props_mut().label = Some(label.into());
        self
    }

    /// Sets the color.
    pub fn color(mut self, color: impl Into<Color>) -> Self {
        self.props_mut().color = Some(color.into());
        self
    }
}

/// Props of a chart series. `stack` applies to bars and areas, `curveType` to areas and lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesProps {
    /// Legend label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Field of each data row holding the value.
    pub data_key: String,
    /// Stack group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Color; by default the client assigns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    /// Interpolation curve (`monotone`, `step`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve_type: Option<String>,
}

impl SeriesProps {
    /// Props for a series of `data_key`.
    pub fn new(data_key: impl Into<String>) -> Self {
        Self {
            data_key: data_key.into(),
            ..Self::default()
        }
    }
}
