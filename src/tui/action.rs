//! What a person can ask of the TUI (by key, click or button), and where they
//! are when they ask: the screens and dialogs.

use super::setup::Field;
use crate::engine::Choice;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Setup,
    Copying,
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    Help,
    ConfirmCancel,
    Conflict,
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
    AskCancel,
    ConfirmCancel,
    ShowConflicts,
    Answer(Choice),
    ToggleForAll,
    Retry,
    NewCopy,
    ScrollUp,
    ScrollDown,
}
