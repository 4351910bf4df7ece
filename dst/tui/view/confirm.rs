//! "Cancel copy?": cancelling abandons files in flight, so it asks first.

use ratatui::layout::Rect;
use ratatui::style::Style;

use super::widgets::Canvas;
use crate::tui::action::Action;
use crate::tui::keys::{self, Context};

pub fn draw(area: Rect, c: &mut Canvas<'_>) {
    let inner = c.dialog(area, (44, 7), " Cancel copy? ");
    c.buf.set_string(
        inner.x + 1,
        inner.y + 1,
        "Files being copied are abandoned",
        Style::new(),
    );
    c.buf.set_string(
        inner.x + 1,
        inner.y + 2,
        "cleanly; finished files stay.",
        Style::new(),
    );
    let ctx = Context::ConfirmCancel;
    let items = [
        (
            keys::label(ctx, Action::ConfirmCancel, "Yes, cancel"),
            Action::ConfirmCancel,
            c.theme.bad(),
        ),
        (
            keys::label(ctx, Action::CloseDialog, "No"),
            Action::CloseDialog,
            c.theme.accent(),
        ),
    ];
    c.buttons(Rect::new(inner.x, inner.y + 4, inner.width, 1), &items);
}
