//! What a person can ask of the TUI (by key, click or button), and where they
//! are when they ask: the screens and dialogs.

use super::setup::Field;
use crate::engine::Choice;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Setup,
    Copying,
    Summary,
    /// How the destination differs from the source (the form's Compare).
    Compared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    Help,
    ConfirmCancel,
    Conflict,
    /// A mirror's deletions, to confirm before any is made.
    Deletions,
}

/// Everything a key, a click or a button can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    CloseDialog,
    Focus(Field),
    FocusNext,
    FocusPrev,
    Char(char),
    Backspace,
    /// Ctrl-U in a path field, as in a shell.
    ClearField,
    Up,
    Down,
    Left,
    Right,
    Enter,
    Start,
    BrowseClick(usize),
    TogglePause,
    MoreWorkers,
    FewerWorkers,
    /// The bandwidth limit a step down (set at about the speed when none).
    SlowerLimit,
    /// Another copy, queued behind the one running (the setup form).
    QueueCopy,
    /// The next waiting copy in the Jobs panel is the one the keys act on.
    NextJob,
    /// The chosen waiting copy one place earlier / later.
    JobEarlier,
    JobLater,
    /// Holds the chosen waiting copy (or lets it go again).
    HoldJob,
    RemoveJob,
    /// The next busy lane of the Workers panel is the one `SkipFile` acts on.
    NextLane,
    /// Skips the file on the chosen lane (the first busy one if none is).
    SkipFile,
    /// Skips the file on this worker's lane (its ✕ clicked).
    SkipLane(usize),
    /// A step up (lifted above the top step).
    FasterLimit,
    LiftLimit,
    AskCancel,
    ConfirmCancel,
    ShowConflicts,
    Answer(Choice),
    ToggleForAll,
    /// A mirror's deletions: make them, or keep every entry.
    ConfirmDeletions,
    KeepDeletions,
    /// From a comparison: mirror the pair, so the destination becomes the
    /// same (its deletions shown first).
    MirrorNow,
    Retry,
    /// Picks the browser's entry as one of several sources (or lets it go).
    Pick,
    /// Removes the partial copies a cancelled run kept for resuming.
    DiscardPartials,
    NewCopy,
    ScrollUp,
    ScrollDown,
}
