//! Widgets. For now a widget tree is carried as JSON; typed components come next.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The root of a widget tree (`Card`, `ListView`, `Basic`...), carried as its JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WidgetRoot(pub Value);

/// One widget component, carried as its JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WidgetComponent(pub Value);
