//! Keys and mouse events to actions: a pure mapping that depends only on which
//! screen, dialog and field are current.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::app::{Action, App, Dialog, Screen};
use super::setup::Field;
use crate::engine::Choice;

pub fn key(app: &App, k: KeyEvent) -> Option<Action> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
    let typing = app.screen == Screen::Setup
        && app.dialog.is_none()
        && matches!(app.setup.focus, Field::Source | Field::Dest);
    if k.code == KeyCode::F(1) || (k.code == KeyCode::Char('?') && !typing) {
        return Some(Action::Help);
    }
    if let Some(d) = app.dialog {
        return match (d, k.code) {
            (_, _) if ctrl_c => Some(Action::CloseDialog),
            (Dialog::Help, _) => Some(Action::CloseDialog),
            (Dialog::ConfirmCancel, KeyCode::Char('y' | 'Y') | KeyCode::Enter) => {
                Some(Action::ConfirmCancel)
            }
            (Dialog::ConfirmCancel, KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc) => {
                Some(Action::CloseDialog)
            }
            (Dialog::Conflict, KeyCode::Char('o')) => Some(Action::Answer(Choice::Overwrite)),
            (Dialog::Conflict, KeyCode::Char('s')) => Some(Action::Answer(Choice::Skip)),
            (Dialog::Conflict, KeyCode::Char('k')) => Some(Action::Answer(Choice::KeepBoth)),
            (Dialog::Conflict, KeyCode::Char('n')) => {
                Some(Action::Answer(Choice::OverwriteIfNewer))
            }
            (Dialog::Conflict, KeyCode::Char('a')) => Some(Action::ToggleForAll),
            (Dialog::Conflict, KeyCode::Esc) => Some(Action::CloseDialog),
            _ => None,
        };
    }
    match app.screen {
        Screen::Setup => Some(match k.code {
            _ if ctrl_c => Action::Quit,
            KeyCode::F(5) => Action::Start,
            KeyCode::Tab => Action::FocusNext,
            KeyCode::BackTab => Action::FocusPrev,
            KeyCode::Esc => Action::Quit,
            KeyCode::Enter => Action::Enter,
            KeyCode::Up => Action::Up,
            KeyCode::Down => Action::Down,
            KeyCode::Left => Action::Left,
            KeyCode::Right => Action::Right,
            KeyCode::Backspace => Action::Backspace,
            KeyCode::Char('q') if !typing => Action::Quit,
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => Action::ClearField,
            KeyCode::Char(c) => Action::Char(c),
            _ => return None,
        }),
        Screen::Copying => Some(match k.code {
            _ if ctrl_c => Action::AskCancel,
            KeyCode::Char('p' | ' ') => Action::TogglePause,
            KeyCode::Char('+' | '=') => Action::MoreWorkers,
            KeyCode::Char('-' | '_') => Action::FewerWorkers,
            KeyCode::Char('q') | KeyCode::Esc => Action::AskCancel,
            KeyCode::Char('c') => Action::ShowConflicts,
            KeyCode::Up => Action::ScrollUp,
            KeyCode::Down => Action::ScrollDown,
            _ => return None,
        }),
        Screen::Summary => Some(match k.code {
            _ if ctrl_c => Action::Quit,
            KeyCode::Char('q') | KeyCode::Esc | KeyCode::Enter => Action::Quit,
            KeyCode::Char('r') => Action::Retry,
            KeyCode::Char('n') => Action::NewCopy,
            KeyCode::Up => Action::ScrollUp,
            KeyCode::Down => Action::ScrollDown,
            _ => return None,
        }),
    }
}

pub fn mouse(app: &App, m: MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => app
            .hits
            .borrow()
            .iter()
            .rev()
            .find(|(r, _)| {
                r.x <= m.column && m.column < r.right() && r.y <= m.row && m.row < r.bottom()
            })
            .map(|(_, a)| *a),
        MouseEventKind::ScrollUp => Some(Action::ScrollUp),
        MouseEventKind::ScrollDown => Some(Action::ScrollDown),
        _ => None,
    }
}
