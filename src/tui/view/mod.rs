//! Drawing: every screen and dialog from `&App` alone, one file each, over the
//! shared `widgets` and `theme`. Clickable things are recorded in the [`Hits`]
//! passed in, so a click maps to the same action as its key.

mod compared;
mod confirm;
mod conflict;
mod copying;
mod deletions;
mod help;
mod setup;
mod summary;
mod theme;
mod widgets;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Widget;

use super::action::{Dialog, Screen};
use super::app::App;
use super::hits::Hits;
use super::input;
use super::keys;
use theme::Theme;
use widgets::Canvas;

/// Draws the whole interface into `buf`, recording clickable places in `hits`.
pub fn draw(app: &App, area: Rect, buf: &mut Buffer, hits: &mut Hits) {
    hits.clear();
    let mut c = Canvas {
        buf,
        hits,
        theme: Theme { colors: app.colors },
    };
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let hint = keys::hint_line(input::context(app), status.width.saturating_sub(2) as usize);
    c.status_bar(status, &hint);
    match app.screen {
        Screen::Setup => setup::draw(app, main, &mut c),
        Screen::Copying => copying::draw(app, main, &mut c),
        Screen::Summary => summary::draw(app, main, &mut c),
        Screen::Compared => compared::draw(app, main, &mut c),
    }
    match app.dialog {
        Some(Dialog::Help) => help::draw(app, main, &mut c),
        Some(Dialog::ConfirmCancel) => confirm::draw(main, &mut c),
        Some(Dialog::Conflict) => conflict::draw(app, main, &mut c),
        Some(Dialog::Deletions) => deletions::draw(app, main, &mut c),
        None => {}
    }
}

/// The interface as a widget, for callers that need no clicks (tests).
impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        draw(self, area, buf, &mut Hits::default());
    }
}
