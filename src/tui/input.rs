//! Keys and mouse events to actions: a pure mapping from the key table (`keys`)
//! and the screen, dialog and field that are current, and from where the last
//! frame drew what (`Hits`).

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::action::{Action, Dialog, Screen};
use super::app::App;
use super::hits::Hits;
use super::keys::{self, Context};
use super::setup::Field;

/// Which part of the key table applies now.
pub fn context(app: &App) -> Context {
    match (app.dialog, app.screen) {
        (Some(Dialog::Help), _) => Context::Help,
        (Some(Dialog::ConfirmCancel), _) => Context::ConfirmCancel,
        (Some(Dialog::Conflict), _) => Context::Conflict,
        (Some(Dialog::Deletions), _) => Context::Deletions,
        (None, Screen::Setup) => Context::Setup,
        (None, Screen::Copying) => Context::Copying,
        (None, Screen::Summary) => Context::Summary,
        (None, Screen::Compared) => Context::Compared,
    }
}

pub fn key(app: &App, k: KeyEvent) -> Option<Action> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let context = context(app);
    let plain_char = match k.code {
        KeyCode::Char(c)
            if !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    };
    // In a path field characters are text, `?` and `q` included.
    let typing =
        context == Context::Setup && matches!(app.setup.focus, Field::Source | Field::Dest);
    if let (true, Some(c)) = (typing, plain_char) {
        return Some(Action::Char(c));
    }
    if let Some(action) = keys::lookup(context, &k) {
        return Some(action);
    }
    match context {
        // Space toggles the focused option; other characters are harmless.
        Context::Setup => plain_char.map(Action::Char),
        Context::Help => Some(Action::CloseDialog),
        _ => None,
    }
}

pub fn mouse(hits: &Hits, m: MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => hits.at(m.column, m.row),
        MouseEventKind::ScrollUp => Some(Action::ScrollUp),
        MouseEventKind::ScrollDown => Some(Action::ScrollDown),
        _ => None,
    }
}
