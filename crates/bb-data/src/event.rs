//! What the cooker tells python about: the events it fires and the handlers registered
//! for them (`addhandler`), which a [`crate::PythonHost`] calls.

/// Events the cooker fires at python handlers, with what BitBake gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookerEvent {
    /// The base configuration is parsed.
    ConfigParsed,
    /// Before deferred inherits run; the classes waiting.
    RecipePreDeferredInherits {
        /// The recipe file.
        file: String,
        /// The deferred class expressions.
        inherits: Vec<String>,
    },
    /// Before key expansion and anonymous python.
    RecipePreFinalise {
        /// The recipe file.
        file: String,
    },
    /// After key expansion.
    RecipePostKeyExpansion {
        /// The recipe file.
        file: String,
    },
    /// Before the tasks are added.
    RecipeTaskPreProcess {
        /// The recipe file.
        file: String,
        /// The tasks.
        tasks: Vec<String>,
    },
    /// At the end of finalisation (handlers may still skip the recipe).
    RecipeParsed {
        /// The recipe file.
        file: String,
    },
}

impl CookerEvent {
    /// The python class of the event (`bb.event.RecipeParsed`), as `[eventmask]` names it.
    pub fn class_name(&self) -> &'static str {
        match self {
            CookerEvent::ConfigParsed => "bb.event.ConfigParsed",
            CookerEvent::RecipePreDeferredInherits { .. } => "bb.event.RecipePreDeferredInherits",
            CookerEvent::RecipePreFinalise { .. } => "bb.event.RecipePreFinalise",
            CookerEvent::RecipePostKeyExpansion { .. } => "bb.event.RecipePostKeyExpansion",
            CookerEvent::RecipeTaskPreProcess { .. } => "bb.event.RecipeTaskPreProcess",
            CookerEvent::RecipeParsed { .. } => "bb.event.RecipeParsed",
        }
    }
}

/// An event handler registered with `addhandler`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// The function's name.
    pub name: String,
    /// Its body.
    pub code: String,
    /// Event class names it wants (`[eventmask]`); empty means all.
    pub mask: Vec<String>,
    /// Where it is defined.
    pub file: String,
    /// Its first line.
    pub line: u32,
}

impl Handler {
    /// Whether the handler is called for `event`: an empty mask wants every event.
    pub fn wants(&self, event: &CookerEvent) -> bool {
        self.mask.is_empty() || self.mask.iter().any(|m| m == event.class_name())
    }
}
