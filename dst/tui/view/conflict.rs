//! The conflict dialog (policy Ask): which entry, both sides' size and time,
//! and the four answers, once or for all remaining conflicts.

use ratatui::layout::Rect;
use ratatui::style::Style;
use unicode_width::UnicodeWidthStr;

use super::widgets::{Canvas, format_time};
use crate::engine::Choice;
use crate::format::{self, DisplayPath, ellipsize_middle};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keys::{self, Context};

pub fn draw(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let Some(conflict) = app.conflicts.front() else {
        return;
    };
    let title = format!(" Conflict 1 of {} ", app.conflicts.len());
    let inner = c.dialog(area, (area.width.min(74), 12), &title);
    let path = DisplayPath(&conflict.path.join()).to_string();
    c.buf.set_string(
        inner.x + 1,
        inner.y,
        ellipsize_middle(&path, inner.width as usize - 2),
        c.theme.warn(),
    );
    c.buf.set_string(
        inner.x + 1,
        inner.y + 1,
        "already exists at the destination and differs.",
        Style::new(),
    );
    let newer = |a: (i64, i64), b: (i64, i64)| if a > b { "  (newer)" } else { "" };
    let sides = [
        (
            "Source     ",
            conflict.src_size,
            conflict.src_mtime,
            conflict.dest_mtime,
        ),
        (
            "Destination",
            conflict.dest_size,
            conflict.dest_mtime,
            conflict.src_mtime,
        ),
    ];
    for (i, (name, size, mtime, other)) in sides.into_iter().enumerate() {
        let y = inner.y + 3 + i as u16;
        c.buf.set_string(inner.x + 1, y, name, c.theme.accent());
        let text = format!(
            "{:>10}  {}{}",
            format::bytes(size),
            format_time(mtime.0),
            newer(mtime, other)
        );
        c.buf.set_string(inner.x + 12, y, text, Style::new());
    }
    let check = if app.for_all { "[x]" } else { "[ ]" };
    let label = keys::label(
        Context::Conflict,
        Action::ToggleForAll,
        &format!("{check} Do this for all remaining conflicts"),
    );
    let style = if app.for_all {
        c.theme.warn()
    } else {
        Style::new()
    };
    c.buf.set_string(inner.x + 1, inner.y + 6, &label, style);
    c.hits.add(
        Rect::new(inner.x + 1, inner.y + 6, label.width() as u16, 1),
        Action::ToggleForAll,
    );
    let answer = |choice, text: &str, style| {
        let action = Action::Answer(choice);
        (keys::label(Context::Conflict, action, text), action, style)
    };
    let items = [
        answer(Choice::Overwrite, "Overwrite", c.theme.bad()),
        answer(Choice::Skip, "Skip", c.theme.accent()),
        answer(Choice::KeepBoth, "Keep both", Style::new()),
        answer(Choice::OverwriteIfNewer, "If newer", Style::new()),
    ];
    c.buttons(Rect::new(inner.x, inner.y + 8, inner.width, 1), &items);
}
