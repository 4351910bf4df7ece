//! The setup form: source and destination fields with folder suggestions, the
//! folder browser, the options and the Start button.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Widget};
use unicode_width::UnicodeWidthStr;

use super::widgets::{Canvas, window};
use crate::format::ellipsize_middle;
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keys::{self, Context};
use crate::tui::setup::{Field, Setup, policy_name};

/// Columns taken by a path field's label.
const LABEL_W: u16 = 13;

pub fn draw(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let s = &app.setup;
    let block = window(" convoy — New copy ", &c.theme);
    let inner = block.inner(area);
    block.render(area, c.buf);
    let [src_row, dst_row, _, middle, err_row, btn_row] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    path_field(c, s, src_row, "Source", &s.source_shown(), Field::Source);
    path_field(c, s, dst_row, "Destination", &s.dest, Field::Dest);

    let [browse, options] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(middle);
    browser(c, s, browse);
    options_box(c, s, options);

    if let Some(e) = &s.error {
        c.buf.set_string(
            err_row.x + 1,
            err_row.y,
            ellipsize_middle(&format!("⚠ {e}"), err_row.width as usize - 2),
            c.theme.bad(),
        );
    }
    let focus_style = |f: Field, base: Style| {
        if s.focus == f {
            c.theme.focused()
        } else {
            base
        }
    };
    // While a copy runs, this one joins the queue behind it.
    let (start, quit) = match app.running.is_some() {
        true => ("Add to queue", "Back"),
        false => ("Start", "Quit"),
    };
    let items = [
        (
            keys::label(Context::Setup, Action::Start, start),
            Action::Start,
            focus_style(Field::Start, c.theme.good().add_modifier(Modifier::BOLD)),
        ),
        (
            quit.to_string(),
            Action::Quit,
            focus_style(Field::Quit, Style::new()),
        ),
    ];
    c.buttons(btn_row, &items);

    // Suggestions float under the focused path field, above everything else.
    if !s.suggestions.is_empty() && matches!(s.focus, Field::Source | Field::Dest) {
        let row = if s.focus == Field::Source {
            src_row
        } else {
            dst_row
        };
        suggestions(c, s, row, inner);
    }
}

fn path_field(c: &mut Canvas<'_>, s: &Setup, row: Rect, label: &str, value: &str, f: Field) {
    let style = if s.focus == f {
        c.theme.focused()
    } else {
        Style::new().add_modifier(Modifier::UNDERLINED)
    };
    c.buf.set_string(row.x + 1, row.y, label, c.theme.accent());
    let w = row.width.saturating_sub(LABEL_W + 2);
    let shown = ellipsize_middle(value, w.saturating_sub(1) as usize);
    let fill = format!(
        "{shown:<width$}",
        width = w as usize - (shown.width() - shown.chars().count()).min(w as usize)
    );
    c.buf.set_string(row.x + LABEL_W, row.y, &fill, style);
    if s.focus == f {
        let cx = row.x + LABEL_W + shown.width() as u16;
        c.buf
            .set_string(cx.min(row.right().saturating_sub(1)), row.y, "▏", style);
    }
    c.hits
        .add(Rect::new(row.x, row.y, row.width, 1), Action::Focus(f));
}

fn browser(c: &mut Canvas<'_>, s: &Setup, area: Rect) {
    let target = if s.browse_target == Field::Dest {
        "destination"
    } else {
        "source"
    };
    let title = format!(" Folders → {target}: {} ", s.browse_shown());
    let block = window(
        Line::from(ellipsize_middle(
            &title,
            area.width.saturating_sub(2) as usize,
        )),
        &c.theme,
    )
    .border_style(if s.focus == Field::Browser {
        c.theme.accent()
    } else {
        c.theme.dim()
    });
    let list = block.inner(area);
    block.render(area, c.buf);
    let rows = list.height as usize;
    let offset = if s.browse_selected >= rows {
        s.browse_selected + 1 - rows
    } else {
        0
    };
    for (i, name) in s.browse_entries.iter().enumerate().skip(offset).take(rows) {
        let y = list.y + (i - offset) as u16;
        let picked = s.entry_path(i).is_some_and(|p| s.picked.contains(&p));
        let mark = if picked { "✓" } else { " " };
        let label = if name == ".." {
            "↑ ..".to_string()
        } else if s.is_file_entry(i) {
            format!("{mark} {name}")
        } else if picked {
            format!("✓ {name}/")
        } else {
            format!("▸ {name}/")
        };
        let style = if i == s.browse_selected && s.focus == Field::Browser {
            c.theme.focused()
        } else if i == s.browse_selected {
            c.theme.accent()
        } else {
            Style::new()
        };
        c.buf.set_string(
            list.x,
            y,
            ellipsize_middle(&label, list.width as usize),
            style,
        );
        c.hits
            .add(Rect::new(list.x, y, list.width, 1), Action::BrowseClick(i));
    }
}

fn options_box(c: &mut Canvas<'_>, s: &Setup, area: Rect) {
    let block = window(" Options ", &c.theme);
    let o = block.inner(area);
    block.render(area, c.buf);
    let check = |b: bool| if b { "[x]" } else { "[ ]" };
    let rows = [
        (format!("Workers    ◀ {} ▶", s.jobs), Field::Jobs),
        (
            format!("Conflicts  ◀ {} ▶", policy_name(s.policy)),
            Field::Policy,
        ),
        (
            format!("{} Follow symlinks", check(s.dereference)),
            Field::Deref,
        ),
        (format!("{} Dry run", check(s.dry_run)), Field::DryRun),
        (format!("{} Verify copies", check(s.verify)), Field::Verify),
        (
            format!("{} Wait until written to the device", check(s.flush)),
            Field::Flush,
        ),
        (
            format!("{} Move: remove sources", check(s.move_sources)),
            Field::Move,
        ),
        (
            format!("{} Mirror: delete what the source lacks", check(s.mirror)),
            Field::Mirror,
        ),
        (
            format!("{} Compare only: copy nothing", check(s.compare)),
            Field::Compare,
        ),
    ];
    for (i, (text, f)) in rows.iter().enumerate() {
        let i = i as u16;
        if i >= o.height {
            break;
        }
        let style = if s.focus == *f {
            c.theme.focused()
        } else {
            Style::new()
        };
        c.buf.set_string(
            o.x + 1,
            o.y + i,
            ellipsize_middle(text, o.width.saturating_sub(1) as usize),
            style,
        );
        c.hits
            .add(Rect::new(o.x, o.y + i, o.width, 1), Action::Focus(*f));
    }
}

fn suggestions(c: &mut Canvas<'_>, s: &Setup, row: Rect, inner: Rect) {
    let h = (s.suggestions.len() as u16 + 2).min(inner.bottom().saturating_sub(row.y + 1));
    let w = row.width.saturating_sub(LABEL_W);
    let pop = Rect::new(row.x + LABEL_W, row.y + 1, w, h);
    Clear.render(pop, c.buf);
    let accept = keys::keys_text(Context::Setup, &[Action::Right]);
    let block = window(format!(" Suggestions ({accept} accepts) "), &c.theme);
    let pin = block.inner(pop);
    block.render(pop, c.buf);
    for (i, sug) in s.suggestions.iter().enumerate().take(pin.height as usize) {
        let style = if i == s.suggestion {
            c.theme.focused()
        } else {
            Style::new()
        };
        c.buf.set_string(
            pin.x,
            pin.y + i as u16,
            ellipsize_middle(sug, pin.width as usize),
            style,
        );
    }
}
