//! Where the last frame drew each clickable thing, so a click maps to the same
//! action as its key. The view fills it while drawing; the input mapping reads it.

use ratatui::layout::Rect;

use super::action::Action;

#[derive(Debug, Default)]
pub struct Hits(Vec<(Rect, Action)>);

impl Hits {
    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn add(&mut self, area: Rect, action: Action) {
        self.0.push((area, action));
    }

    /// The action of what was drawn last at (column, row): later drawings
    /// (dialogs) lie on top of earlier ones.
    pub fn at(&self, column: u16, row: u16) -> Option<Action> {
        self.0
            .iter()
            .rev()
            .find(|(r, _)| r.x <= column && column < r.right() && r.y <= row && row < r.bottom())
            .map(|(_, a)| *a)
    }
}
