//! What every screen draws with: the canvas (buffer, click targets, theme),
//! windows, dialogs, buttons, the status bar and small text helpers.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Borders, Clear, Widget};
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use crate::format::{DisplayPath, ellipsize_middle, ellipsize_path};
use crate::tui::action::Action;
use crate::tui::hits::Hits;

/// Where a frame is drawn, and where its clickable things are recorded.
pub struct Canvas<'a> {
    pub buf: &'a mut Buffer,
    pub hits: &'a mut Hits,
    pub theme: Theme,
}

pub fn window<'a>(title: impl Into<Line<'a>>, t: &Theme) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .title(title)
        .border_style(t.dim())
        .title_style(t.accent())
}

pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

impl Canvas<'_> {
    /// Draws `[ label ]` at (x, y) and records it for the mouse; returns the
    /// width it takes with its gap, or 0 when it does not fit before `right`.
    pub fn button(
        &mut self,
        (x, y, right): (u16, u16, u16),
        label: &str,
        action: Action,
        style: Style,
    ) -> u16 {
        let text = format!("[ {label} ]");
        let w = text.width() as u16;
        if x + w > right {
            return 0;
        }
        self.buf.set_string(x, y, &text, style);
        self.hits.add(Rect::new(x, y, w, 1), action);
        w + 2
    }

    /// A row of buttons from the left of `area`.
    pub fn buttons(&mut self, area: Rect, items: &[(String, Action, Style)]) {
        let mut x = area.x + 1;
        for (label, action, style) in items {
            x += self.button((x, area.y, area.right()), label, *action, *style);
        }
    }

    /// A dialog window over whatever is under it; returns its inside.
    pub fn dialog(&mut self, area: Rect, (w, h): (u16, u16), title: &str) -> Rect {
        let r = centered(area, w, h);
        Clear.render(r, self.buf);
        self.no_split_wide(r);
        let block = window(title.to_string(), &self.theme)
            .border_type(BorderType::Double)
            .border_style(self.theme.accent());
        let inner = block.inner(r);
        block.render(r, self.buf);
        inner
    }

    /// A wide character just left of `r` would be drawn over its left
    /// column (the terminal draws both its halves; the frame skips the cell
    /// under the second): blanked, as is a wide character's orphaned
    /// second half just right of it.
    fn no_split_wide(&mut self, r: Rect) {
        let area = self.buf.area;
        for y in r.top()..r.bottom() {
            if r.left() > area.left() {
                let left = &mut self.buf[(r.left() - 1, y)];
                if left.symbol().width() > 1 {
                    left.set_symbol(" ");
                }
            }
            if r.right() < area.right() && r.width > 0 {
                // What was under the dialog's last column, and is cleared now.
                let beside = (r.right(), y);
                if self.buf[beside].symbol().is_empty() {
                    self.buf[beside].set_symbol(" ");
                }
            }
        }
    }

    pub fn status_bar(&mut self, area: Rect, text: &str) {
        let style = self.theme.status_bar();
        self.buf.set_style(area, style);
        self.buf.set_string(
            area.x + 1,
            area.y,
            ellipsize_middle(text, area.width.saturating_sub(2) as usize),
            style,
        );
    }
}

/// A lane's own small gauge: `████░░░░`.
pub fn bar(pct: u64, width: usize) -> String {
    let full = (pct as usize * width).div_ceil(100).min(width);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// `path: reason` in `width` columns: the path gives way first, so the reason
/// (what went wrong) stays readable.
pub fn problem_line(path: &std::path::Path, reason: &str, width: usize) -> String {
    let path = DisplayPath(path).to_string();
    let room = width.saturating_sub(reason.width() + 2);
    if room >= 12 {
        format!("{}: {reason}", ellipsize_path(&path, room))
    } else {
        ellipsize_middle(&format!("{path}: {reason}"), width)
    }
}

/// `2024-05-01 13:45:00 UTC`, without a time-zone database.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_as_dates() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::format_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
