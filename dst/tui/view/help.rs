//! The help dialog, written from the key table: every binding of every screen
//! with what it does, scrollable where the terminal is short.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use unicode_width::UnicodeWidthStr;

use super::widgets::Canvas;
use crate::format::ellipsize_middle;
use crate::tui::app::App;
use crate::tui::keys::{self, WORDS};

/// The help's lines: a title per section, then `keys  what they do`.
fn lines() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for (context, title) in keys::SECTIONS {
        out.push((title.to_string(), ""));
        for w in WORDS.iter().filter(|w| w.context == context) {
            out.push((format!("  {}", keys::keys_text(context, w.actions)), w.does));
        }
        if context == keys::Context::Everywhere {
            out.push((
                "  mouse".to_string(),
                "click buttons, fields and folders; wheel scrolls",
            ));
        }
    }
    out
}

pub fn draw(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let lines = lines();
    let key_w = lines.iter().map(|(k, _)| k.width()).max().unwrap_or(0) + 3;
    let does_w = lines.iter().map(|(_, d)| d.width()).max().unwrap_or(0);
    let width = (key_w + does_w + 4) as u16;
    let height = (lines.len() as u16 + 2).min(area.height);
    let inner = c.dialog(area, (width, height), " Help ");
    let rows = inner.height as usize;
    let room = (inner.width as usize).saturating_sub(key_w + 1);
    let scroll = app.help_scroll.min(lines.len().saturating_sub(rows));
    for (i, (k, does)) in lines.iter().skip(scroll).take(rows).enumerate() {
        let y = inner.y + i as u16;
        let style = if does.is_empty() {
            c.theme.accent()
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        };
        c.buf.set_string(inner.x + 1, y, k, style);
        let does = ellipsize_middle(does, room);
        c.buf
            .set_string(inner.x + 1 + key_w as u16, y, does, Style::new());
    }
    if scroll + rows < lines.len() {
        let more = format!(" ↓ {} more ", lines.len() - scroll - rows);
        let x = inner
            .right()
            .saturating_sub(more.chars().count() as u16 + 1);
        c.buf.set_string(x, inner.bottom(), more, c.theme.accent());
    }
}
