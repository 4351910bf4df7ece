//! A mirror's deletions, shown before any is made: how many entries and
//! bytes, the entries themselves (a folder with what it holds), and where
//! they go: into the backup folder, or gone for good.

use ratatui::layout::Rect;
use ratatui::style::Style;

use super::widgets::Canvas;
use crate::event::Doomed;
use crate::format::{self, DisplayPath, ellipsize_middle};
use crate::summary;
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keys::{self, Context};

pub fn draw(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let Some(plan) = &app.progress.prune_plan else {
        return;
    };
    let wanted = plan.doomed.len() as u16 + 7;
    let height = wanted.clamp(9, area.height.clamp(9, 24));
    let inner = c.dialog(area, (area.width.min(80), height), " Mirror: delete? ");
    let width = inner.width.saturating_sub(2) as usize;
    let head = format!(
        "{} entries ({}) in the destination are not in the source:",
        plan.entries,
        format::bytes(plan.bytes)
    );
    c.buf.set_string(
        inner.x + 1,
        inner.y,
        ellipsize_middle(&head, width),
        c.theme.warn(),
    );
    let listed = inner.height.saturating_sub(5) as usize;
    let more = plan.doomed.len().saturating_sub(listed);
    let shown = if more > 0 {
        listed.saturating_sub(1)
    } else {
        listed
    };
    for (i, d) in plan.doomed.iter().take(shown).enumerate() {
        // Paths inside the destination, which the window already names.
        let inside = Doomed {
            path: d
                .path
                .strip_prefix(&app.dest)
                .unwrap_or(&d.path)
                .to_path_buf(),
            ..d.clone()
        };
        let line = format!("  {}", summary::doomed_line(&inside));
        c.buf.set_string(
            inner.x + 1,
            inner.y + 1 + i as u16,
            ellipsize_middle(&line, width),
            Style::new(),
        );
    }
    let y = inner.y + 1 + shown as u16;
    if plan.doomed.len() > shown {
        let text = format!("  … and {} more", plan.doomed.len() - shown);
        c.buf.set_string(inner.x + 1, y, text, Style::new());
    }
    let fate = match &plan.backup {
        Some(b) => format!("They go into {} (a way back).", DisplayPath(b)),
        None => "They are deleted for good.".to_string(),
    };
    let bottom = inner.y + inner.height.saturating_sub(3);
    c.buf.set_string(
        inner.x + 1,
        bottom,
        ellipsize_middle(&fate, width),
        Style::new(),
    );
    let ctx = Context::Deletions;
    let items = [
        (
            keys::label(ctx, Action::ConfirmDeletions, "Delete them"),
            Action::ConfirmDeletions,
            c.theme.bad(),
        ),
        (
            keys::label(ctx, Action::KeepDeletions, "Keep all"),
            Action::KeepDeletions,
            c.theme.accent(),
        ),
    ];
    c.buttons(Rect::new(inner.x, bottom + 2, inner.width, 1), &items);
}
