//! Every key binding, written once. The input mapping, the status-bar hints, the
//! help dialog and the button labels all read these two tables: `BINDINGS` says
//! which keys do what where, `WORDS` how each action is described. Change a
//! key here and it changes everywhere (gitui's `key_list` + `strings` model).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use crate::engine::Choice;

/// Where a binding applies: a screen, a dialog, or everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Everywhere,
    Setup,
    Copying,
    Summary,
    Compared,
    Conflict,
    ConfirmCancel,
    Deletions,
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn k(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ch(c: char) -> Key {
    k(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

const ESC: Key = k(KeyCode::Esc);
const ENTER: Key = k(KeyCode::Enter);
const UP: Key = k(KeyCode::Up);
const DOWN: Key = k(KeyCode::Down);
const CTRL_C: Key = ctrl('c');

pub struct Binding {
    pub context: Context,
    /// Shown in hints, help and labels (the first one in labels).
    pub keys: &'static [Key],
    /// Also accepted, not shown (aliases, Ctrl-C).
    pub also: &'static [Key],
    pub action: Action,
}

const fn bind(context: Context, keys: &'static [Key], action: Action) -> Binding {
    Binding {
        context,
        keys,
        also: &[],
        action,
    }
}

const fn bind_also(
    context: Context,
    keys: &'static [Key],
    also: &'static [Key],
    action: Action,
) -> Binding {
    Binding {
        context,
        keys,
        also,
        action,
    }
}

use Context::*;

pub static BINDINGS: &[Binding] = &[
    bind(Everywhere, &[ch('?'), k(KeyCode::F(1))], Action::Help),
    // Setup. Plain characters typed into a path field are text, whatever they
    // are bound to elsewhere (see `input`).
    bind(Setup, &[k(KeyCode::Tab)], Action::FocusNext),
    bind(Setup, &[k(KeyCode::BackTab)], Action::FocusPrev),
    bind(Setup, &[k(KeyCode::Right)], Action::Right),
    bind(Setup, &[k(KeyCode::Left)], Action::Left),
    bind(Setup, &[UP], Action::Up),
    bind(Setup, &[DOWN], Action::Down),
    bind(Setup, &[ENTER], Action::Enter),
    bind(Setup, &[k(KeyCode::Backspace)], Action::Backspace),
    bind(Setup, &[ctrl('u')], Action::ClearField),
    bind(Setup, &[k(KeyCode::F(5))], Action::Start),
    bind(Setup, &[ch(' ')], Action::Pick),
    bind_also(Setup, &[ESC, ch('q')], &[CTRL_C], Action::Quit),
    // Copying.
    bind(Copying, &[ch('p'), ch(' ')], Action::TogglePause),
    bind_also(Copying, &[ch('+')], &[ch('=')], Action::MoreWorkers),
    bind_also(Copying, &[ch('-')], &[ch('_')], Action::FewerWorkers),
    bind(Copying, &[ch('[')], Action::SlowerLimit),
    bind(Copying, &[ch(']')], Action::FasterLimit),
    bind(Copying, &[ch('l')], Action::LiftLimit),
    bind(Copying, &[k(KeyCode::Tab)], Action::NextLane),
    bind(Copying, &[ch('x')], Action::SkipFile),
    bind(Copying, &[ch('n')], Action::QueueCopy),
    bind(Copying, &[ch('j')], Action::NextJob),
    bind(Copying, &[ch('K')], Action::JobEarlier),
    bind(Copying, &[ch('J')], Action::JobLater),
    bind(Copying, &[ch('h')], Action::HoldJob),
    bind(Copying, &[k(KeyCode::Delete)], Action::RemoveJob),
    bind(Copying, &[ch('c')], Action::ShowConflicts),
    bind_also(Copying, &[ESC, ch('q')], &[CTRL_C], Action::AskCancel),
    bind(Copying, &[UP], Action::ScrollUp),
    bind(Copying, &[DOWN], Action::ScrollDown),
    // Summary.
    bind(Summary, &[ch('r')], Action::Retry),
    bind(Summary, &[ch('n')], Action::NewCopy),
    bind(Summary, &[ch('d')], Action::DiscardPartials),
    bind(Summary, &[UP], Action::ScrollUp),
    bind(Summary, &[DOWN], Action::ScrollDown),
    bind_also(Summary, &[ch('q'), ESC, ENTER], &[CTRL_C], Action::Quit),
    // A comparison's result.
    bind(Compared, &[ch('m')], Action::MirrorNow),
    bind(Compared, &[ch('n')], Action::NewCopy),
    bind(Compared, &[UP], Action::ScrollUp),
    bind(Compared, &[DOWN], Action::ScrollDown),
    bind_also(Compared, &[ch('q'), ESC], &[CTRL_C], Action::Quit),
    // The conflict dialog.
    bind(Conflict, &[ch('o')], Action::Answer(Choice::Overwrite)),
    bind(Conflict, &[ch('s')], Action::Answer(Choice::Skip)),
    bind(Conflict, &[ch('k')], Action::Answer(Choice::KeepBoth)),
    bind(
        Conflict,
        &[ch('n')],
        Action::Answer(Choice::OverwriteIfNewer),
    ),
    bind(Conflict, &[ch('a')], Action::ToggleForAll),
    bind_also(Conflict, &[ESC], &[CTRL_C], Action::CloseDialog),
    // "Cancel the copy?"
    bind_also(
        ConfirmCancel,
        &[ch('y'), ENTER],
        &[ch('Y')],
        Action::ConfirmCancel,
    ),
    bind_also(
        ConfirmCancel,
        &[ch('n'), ESC],
        &[ch('N'), ch('q'), CTRL_C],
        Action::CloseDialog,
    ),
    // A mirror's deletions: nothing goes without a plain yes.
    bind_also(Deletions, &[ch('y')], &[ch('Y')], Action::ConfirmDeletions),
    bind_also(
        Deletions,
        &[ch('n'), ESC],
        &[ch('N'), ch('q'), CTRL_C],
        Action::KeepDeletions,
    ),
    // Help (any other key closes it too).
    bind(Help, &[UP], Action::ScrollUp),
    bind(Help, &[DOWN], Action::ScrollDown),
    bind_also(Help, &[ESC, ch('?')], &[CTRL_C], Action::CloseDialog),
];

/// How a group of actions is described: `does` in the help dialog, `hint` (when
/// set) in the status bar. Keys come from `BINDINGS`.
pub struct Words {
    pub context: Context,
    pub actions: &'static [Action],
    pub does: &'static str,
    pub hint: Option<&'static str>,
}

const fn words(
    context: Context,
    actions: &'static [Action],
    does: &'static str,
    hint: Option<&'static str>,
) -> Words {
    Words {
        context,
        actions,
        does,
        hint,
    }
}

pub static WORDS: &[Words] = &[
    words(
        Everywhere,
        &[Action::Help],
        "show or hide this help",
        Some("help"),
    ),
    words(
        Setup,
        &[Action::FocusNext, Action::FocusPrev],
        "next / previous field",
        Some("move"),
    ),
    words(
        Setup,
        &[Action::Right],
        "accept the suggestion, open a folder, next value",
        Some("accept"),
    ),
    words(
        Setup,
        &[Action::Enter],
        "accept, open a folder, toggle an option",
        Some("open"),
    ),
    words(
        Setup,
        &[Action::Up, Action::Down],
        "move in suggestions, folders or fields",
        None,
    ),
    words(
        Setup,
        &[Action::Left, Action::Backspace],
        "up a folder, previous value / delete",
        None,
    ),
    words(Setup, &[Action::ClearField], "clear the path field", None),
    words(
        Setup,
        &[Action::Pick],
        "in the browser: pick several sources (files too); elsewhere: change an option",
        None,
    ),
    words(Setup, &[Action::Start], "start the copy", Some("start")),
    words(Setup, &[Action::Quit], "quit", Some("quit")),
    words(
        Copying,
        &[Action::TogglePause],
        "pause / resume",
        Some("pause"),
    ),
    words(
        Copying,
        &[Action::MoreWorkers, Action::FewerWorkers],
        "more / fewer workers, live",
        Some("workers"),
    ),
    words(
        Copying,
        &[Action::SlowerLimit, Action::FasterLimit],
        "lower / raise the speed limit, live",
        Some("limit"),
    ),
    words(Copying, &[Action::LiftLimit], "lift the speed limit", None),
    words(
        Copying,
        &[Action::QueueCopy],
        "queue another copy (it starts when this one ends)",
        Some("queue"),
    ),
    words(
        Copying,
        &[Action::NextJob],
        "choose a waiting copy in the Jobs panel",
        None,
    ),
    words(
        Copying,
        &[Action::JobEarlier, Action::JobLater],
        "move the chosen copy earlier / later",
        None,
    ),
    words(
        Copying,
        &[Action::HoldJob],
        "hold the chosen copy / let it go",
        None,
    ),
    words(
        Copying,
        &[Action::RemoveJob],
        "remove the chosen copy",
        None,
    ),
    words(
        Copying,
        &[Action::NextLane],
        "choose a lane in the Workers panel",
        None,
    ),
    words(
        Copying,
        &[Action::SkipFile],
        "skip the file on the chosen lane (✕ on a lane too)",
        Some("skip file"),
    ),
    words(
        Copying,
        &[Action::ShowConflicts],
        "answer waiting conflicts",
        Some("conflicts"),
    ),
    words(
        Copying,
        &[Action::ScrollUp, Action::ScrollDown],
        "scroll the recent files",
        None,
    ),
    words(
        Copying,
        &[Action::AskCancel],
        "cancel (asks first)",
        Some("cancel"),
    ),
    words(
        Conflict,
        &[Action::Answer(Choice::Overwrite)],
        "overwrite the destination",
        Some("overwrite"),
    ),
    words(
        Conflict,
        &[Action::Answer(Choice::Skip)],
        "skip, keep the destination",
        Some("skip"),
    ),
    words(
        Conflict,
        &[Action::Answer(Choice::KeepBoth)],
        "keep both: copy as \"name (1)\"",
        Some("keep both"),
    ),
    words(
        Conflict,
        &[Action::Answer(Choice::OverwriteIfNewer)],
        "overwrite if the source is newer",
        Some("if newer"),
    ),
    words(
        Conflict,
        &[Action::ToggleForAll],
        "the same for all remaining conflicts",
        Some("for all"),
    ),
    words(
        Conflict,
        &[Action::CloseDialog],
        "answer later",
        Some("later"),
    ),
    words(
        Summary,
        &[Action::Retry],
        "retry the failed entries",
        Some("retry failed"),
    ),
    words(Summary, &[Action::NewCopy], "new copy", Some("new copy")),
    words(
        Summary,
        &[Action::DiscardPartials],
        "remove the partial copies kept for resuming",
        Some("remove partials"),
    ),
    words(
        Summary,
        &[Action::ScrollUp, Action::ScrollDown],
        "scroll the failures",
        Some("scroll"),
    ),
    words(Summary, &[Action::Quit], "quit", Some("quit")),
    words(
        ConfirmCancel,
        &[Action::ConfirmCancel],
        "cancel the copy",
        Some("cancel the copy"),
    ),
    words(
        ConfirmCancel,
        &[Action::CloseDialog],
        "keep copying",
        Some("keep copying"),
    ),
    words(
        Compared,
        &[Action::MirrorNow],
        "mirror: make the destination the same (deletions shown first)",
        Some("mirror"),
    ),
    words(Compared, &[Action::NewCopy], "new copy", Some("new copy")),
    words(
        Compared,
        &[Action::ScrollUp, Action::ScrollDown],
        "scroll the differences",
        Some("scroll"),
    ),
    words(Compared, &[Action::Quit], "quit", Some("quit")),
    words(
        Deletions,
        &[Action::ConfirmDeletions],
        "delete them (into the backup folder, with one)",
        Some("delete"),
    ),
    words(
        Deletions,
        &[Action::KeepDeletions],
        "keep every one (nothing is deleted)",
        Some("keep all"),
    ),
    words(
        Help,
        &[Action::ScrollUp, Action::ScrollDown],
        "scroll",
        Some("scroll"),
    ),
    words(
        Help,
        &[Action::CloseDialog],
        "close help",
        Some("close help"),
    ),
];

/// The help dialog's sections, in order, with their titles.
pub const SECTIONS: [(Context, &str); 7] = [
    (Everywhere, "Everywhere"),
    (Setup, "Setup"),
    (Copying, "Copying"),
    (Conflict, "Conflict dialog"),
    (Deletions, "Mirror's deletions"),
    (Summary, "Summary"),
    (Compared, "Comparison"),
];

impl Key {
    fn matches(&self, e: &KeyEvent) -> bool {
        // Shift is part of the character itself ('+', '?', 'Y').
        let mods = e.modifiers.difference(KeyModifiers::SHIFT);
        self.code == e.code && self.mods == mods
    }

    pub fn name(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{}", base.to_uppercase())
        } else {
            base
        }
    }
}

/// The action `e` asks for in `context`, from the table alone (then the
/// bindings that hold everywhere).
pub fn lookup(context: Context, e: &KeyEvent) -> Option<Action> {
    let find = |ctx: Context| {
        BINDINGS
            .iter()
            .filter(|b| b.context == ctx)
            .find(|b| b.keys.iter().chain(b.also).any(|k| k.matches(e)))
            .map(|b| b.action)
    };
    find(context).or_else(|| find(Everywhere))
}

/// The keys shown for `action` in `context`.
pub fn keys_of(context: Context, action: Action) -> &'static [Key] {
    BINDINGS
        .iter()
        .find(|b| b.action == action && (b.context == context || b.context == Everywhere))
        .map_or(&[], |b| b.keys)
}

/// `"Pause (p)"`: a button's text with the first key that does the same.
pub fn label(context: Context, action: Action, text: &str) -> String {
    match keys_of(context, action).first() {
        Some(key) => format!("{text} ({})", key.name()),
        None => text.to_string(),
    }
}

/// The keys of a group of actions as one short text: every key of a single
/// action (`p/Space`), the first key of each of several (`+/-`).
pub fn keys_text(context: Context, actions: &[Action]) -> String {
    let names: Vec<String> = match actions {
        [one] => keys_of(context, *one).iter().map(Key::name).collect(),
        many => many
            .iter()
            .filter_map(|a| keys_of(context, *a).first().map(Key::name))
            .collect(),
    };
    names.join("/")
}

/// The status bar's text for `context` in `width` columns: its hinted words,
/// then help; with only the first key of each when every key does not fit.
pub fn hint_line(context: Context, width: usize) -> String {
    let line = |all_keys: bool| {
        let help = WORDS
            .iter()
            .filter(|w| w.context == Everywhere && context != Help);
        WORDS
            .iter()
            .filter(|w| w.context == context)
            .chain(help)
            .filter_map(|w| {
                let hint = w.hint?;
                let keys = if all_keys || w.actions.len() > 1 {
                    keys_text(context, w.actions)
                } else {
                    keys_of(context, w.actions[0]).first()?.name()
                };
                Some(format!("{keys} {hint}"))
            })
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let full = line(true);
    if unicode_width::UnicodeWidthStr::width(full.as_str()) <= width {
        full
    } else {
        line(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn no_key_does_two_things_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in BINDINGS[i + 1..].iter().filter(|b| b.context == a.context) {
                let all = |x: &Binding| x.keys.iter().chain(x.also).copied().collect::<Vec<_>>();
                if let Some(k) = all(a).iter().find(|k| all(b).contains(k)) {
                    panic!("{} is bound twice in {:?}", k.name(), a.context);
                }
            }
        }
    }

    #[test]
    fn every_binding_is_described_and_every_description_has_keys() {
        for b in BINDINGS {
            let described = WORDS
                .iter()
                .any(|w| w.context == b.context && w.actions.contains(&b.action));
            assert!(
                described,
                "{:?} in {:?} is not in the help",
                b.action, b.context
            );
        }
        for w in WORDS {
            assert!(
                !keys_text(w.context, w.actions).is_empty(),
                "{:?} has no key",
                w.does
            );
        }
    }

    #[test]
    fn the_same_table_gives_keys_labels_and_hints() {
        assert_eq!(
            lookup(Copying, &press(KeyCode::Char('p'))),
            Some(Action::TogglePause)
        );
        assert_eq!(
            lookup(Copying, &press(KeyCode::Char(' '))),
            Some(Action::TogglePause)
        );
        assert_eq!(label(Copying, Action::TogglePause, "Pause"), "Pause (p)");
        assert_eq!(label(Copying, Action::AskCancel, "Cancel"), "Cancel (Esc)");
        assert_eq!(label(Setup, Action::Start, "Start"), "Start (F5)");
        let hint = hint_line(Copying, 200);
        assert!(hint.starts_with("p/Space pause · +/- workers"), "{hint}");
        assert!(
            hint.contains("Esc/q cancel") && hint.ends_with("?/F1 help"),
            "{hint}"
        );
        let narrow = hint_line(Copying, 60);
        assert!(narrow.starts_with("p pause · +/- workers"), "{narrow}");
        assert!(
            narrow.contains("Esc cancel") && narrow.ends_with("? help"),
            "{narrow}"
        );
        assert!(hint_line(Setup, 78).contains("F5 start"));
    }

    #[test]
    fn aliases_work_but_are_not_shown() {
        assert_eq!(
            lookup(Copying, &press(KeyCode::Char('='))),
            Some(Action::MoreWorkers)
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(Copying, &ctrl_c), Some(Action::AskCancel));
        assert_eq!(lookup(Summary, &ctrl_c), Some(Action::Quit));
        assert_eq!(keys_text(Copying, &[Action::MoreWorkers]), "+");
        assert!(!hint_line(Copying, 200).contains("Ctrl-C"));
    }

    #[test]
    fn shifted_characters_match_their_binding() {
        let plus = KeyEvent::new(KeyCode::Char('+'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Copying, &plus), Some(Action::MoreWorkers));
        let question = KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Summary, &question), Some(Action::Help));
    }

    #[test]
    fn a_context_binding_comes_before_one_that_holds_everywhere() {
        assert_eq!(
            lookup(Help, &press(KeyCode::Char('?'))),
            Some(Action::CloseDialog)
        );
        assert_eq!(lookup(Copying, &press(KeyCode::F(1))), Some(Action::Help));
        assert_eq!(lookup(Conflict, &press(KeyCode::Char('p'))), None);
    }
}
