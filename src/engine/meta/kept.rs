//! What the destination could not keep, counted by kind and reason instead of
//! failing entry after entry: an exFAT stick keeps no extended attributes, no
//! symlinks and no owners, and each of its files is otherwise copied whole.
//! Said once per kind at the end of the run (`Notice::NotKept`).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

pub(crate) use crate::event::{Lost, What, Why};

#[derive(Default)]
pub(crate) struct NotKept(Mutex<BTreeMap<(What, Why), u64>>);

impl NotKept {
    pub fn add(&self, what: What, why: Why) {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *m.entry((what, why)).or_insert(0) += 1;
    }

    pub fn take(&self) -> Vec<Lost> {
        let m = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        m.into_iter()
            .map(|((what, why), count)| Lost { what, why, count })
            .collect()
    }
}

/// Device nodes this process may not make (only root may), counted by kind
/// and said once each at the end: the copy is not complete (exit code 1).
#[derive(Default)]
pub(crate) struct NotMade(Mutex<BTreeMap<&'static str, u64>>);

impl NotMade {
    pub fn add(&self, kind: &'static str) {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *m.entry(kind).or_insert(0) += 1;
    }

    pub fn take(&self) -> Vec<(&'static str, u64)> {
        let m = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        m.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_counted_once_per_reason_and_said_in_words() {
        let k = NotKept::default();
        for _ in 0..3 {
            k.add(What::Xattrs, Why::Unsupported);
        }
        k.add(What::Capabilities, Why::NotPermitted);
        let lost = k.take();
        assert_eq!(lost.len(), 2);
        assert_eq!(
            lost[0].to_string(),
            "extended attributes not kept on 3 entries: the destination does not support them"
        );
        assert!(
            lost[1]
                .to_string()
                .starts_with("file capabilities not kept on 1 entries")
        );
        assert!(k.take().is_empty(), "taken once");
    }
}
