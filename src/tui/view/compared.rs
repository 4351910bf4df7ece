//! A comparison's result (the form's Compare only): while it reads, which
//! folders; then whether they are the same, every difference (scrollable)
//! and what could not be read, with Mirror to make them the same.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::widgets::{Canvas, window};
use crate::format::{DisplayPath, ellipsize_middle};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keys::{self, Context};

pub fn draw(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let t = &c.theme;
    let (title, style, lines) = match &app.comparison {
        None => (" Comparing… ".to_string(), t.accent(), Vec::new()),
        Some(Err(e)) => (" Cannot compare ".to_string(), t.bad(), vec![e.clone()]),
        Some(Ok(found)) => {
            let title = match (found.differences.len(), found.unreadable.len()) {
                (0, 0) => format!(" Same: {} entries compared, no difference ", found.entries),
                (n, 0) => format!(" Differ: {n} differences in {} entries ", found.entries),
                (n, u) => format!(" Incomplete: {u} not read; {n} differences "),
            };
            let style = if found.is_same() {
                t.good().add_modifier(Modifier::BOLD)
            } else {
                t.warn()
            };
            let lines = found
                .differences
                .iter()
                .map(ToString::to_string)
                .chain(
                    found
                        .unreadable
                        .iter()
                        .map(|f| format!("cannot read {}: {}", DisplayPath(&f.path), f.reason)),
                )
                .collect();
            (title, style, lines)
        }
    };
    let block = window(Line::styled(title, style), t);
    let inner = block.inner(area);
    block.render(area, c.buf);
    let [head, list, btns] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let width = inner.width.saturating_sub(14) as usize;
    let path = |p: &std::path::Path| ellipsize_middle(&p.display().to_string(), width);
    let accent = c.theme.accent();
    Paragraph::new(vec![
        Line::from(vec![
            Span::styled(" Source      ", accent),
            Span::raw(path(&app.source)),
        ]),
        Line::from(vec![
            Span::styled(" Destination ", accent),
            Span::raw(path(&app.dest)),
        ]),
    ])
    .render(head, c.buf);
    let room = list.height as usize;
    let width = list.width.saturating_sub(2) as usize;
    let shown: Vec<Line> = lines
        .iter()
        .skip(app.scroll)
        .take(room)
        .map(|l| Line::raw(format!(" {}", ellipsize_middle(l, width))))
        .collect();
    Paragraph::new(shown).render(list, c.buf);
    let ctx = Context::Compared;
    let mut items = Vec::new();
    if app
        .comparison
        .as_ref()
        .is_some_and(|f| f.as_ref().is_ok_and(|f| !f.is_same()))
    {
        items.push((
            keys::label(ctx, Action::MirrorNow, "Mirror"),
            Action::MirrorNow,
            c.theme.warn(),
        ));
    }
    items.push((
        keys::label(ctx, Action::NewCopy, "New copy"),
        Action::NewCopy,
        c.theme.accent(),
    ));
    items.push((
        keys::label(ctx, Action::Quit, "Quit"),
        Action::Quit,
        ratatui::style::Style::new(),
    ));
    c.buttons(btns, &items);
}
