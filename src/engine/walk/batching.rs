//! Grouping a folder's small entries into batches, so the queue carries one
//! message per batch instead of one per tiny file, and workers stay balanced.
//! Pure: no I/O, the planner sends what comes out.

use std::sync::Arc;

use crate::engine::copy::job::Batch;
use crate::engine::plan::item::Item;
use crate::engine::plan::node::DirNode;

/// A batch closes at this many entries or bytes: large enough to spare the queue
/// a message per tiny file, small enough that workers stay balanced (a file of
/// a MiB or more is a batch of its own). A folder of a few hundred small files
/// is one batch, so one worker creates its files: two creating in one folder
/// wait on its lock, spinning (a million files in folders of 100, warm, two
/// rounds: batches of 64 took 13.4 and 14.3 s, 25.1 and 26.2 CPU-s; of 256,
/// 12.4 and 13.5 s, 23.0 and 25.3 CPU-s).
pub(super) const BATCH_ENTRIES: usize = 256;
pub(super) const BATCH_BYTES: u64 = 1024 * 1024;

#[derive(Default)]
pub(super) struct Batcher {
    open: Option<Batch>,
    bytes: u64,
}

impl Batcher {
    /// Adds `item` of the folder `dir`, whose files are written `in_place` (see
    /// `stage`) when a batch for it opens now. Returns the batches ready to go,
    /// in order: the open batch of another folder, then this one if it is full.
    pub fn add(&mut self, dir: &Arc<DirNode>, in_place: bool, item: Item) -> Vec<Batch> {
        let mut ready = Vec::new();
        if self
            .open
            .as_ref()
            .is_some_and(|b| !Arc::ptr_eq(&b.dir, dir))
        {
            ready.extend(self.take());
        }
        self.bytes += item.meta.size;
        let batch = self.open.get_or_insert_with(|| Batch {
            dir: Arc::clone(dir),
            items: Vec::with_capacity(BATCH_ENTRIES),
            in_place,
        });
        batch.items.push(item);
        if batch.items.len() >= BATCH_ENTRIES || self.bytes >= BATCH_BYTES {
            ready.extend(self.take());
        }
        ready
    }

    /// The open batch, if it belongs to `dir`.
    pub fn take_for(&mut self, dir: &Arc<DirNode>) -> Option<Batch> {
        if self.open.as_ref().is_some_and(|b| Arc::ptr_eq(&b.dir, dir)) {
            self.take()
        } else {
            None
        }
    }

    /// The open batch, whatever its folder.
    pub fn take(&mut self) -> Option<Batch> {
        self.bytes = 0;
        self.open.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::meta::attrs::SrcMeta;
    use crate::engine::plan::item::ItemKind;

    fn item(name: &str, size: u64) -> Item {
        Item {
            name: name.into(),
            from: None,
            kind: ItemKind::File,
            meta: SrcMeta::test_file(size, 0),
        }
    }

    fn names(b: &Batch) -> Vec<String> {
        b.items
            .iter()
            .map(|i| i.name.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_folder_s_small_files_travel_together_until_the_entry_limit() {
        let dir = DirNode::root(false);
        let mut b = Batcher::default();
        for i in 0..BATCH_ENTRIES - 1 {
            assert!(b.add(&dir, false, item(&i.to_string(), 10)).is_empty());
        }
        let ready = b.add(&dir, false, item("last", 10));
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].items.len(), BATCH_ENTRIES);
        assert!(b.take().is_none(), "nothing left open");
    }

    #[test]
    fn a_batch_closes_at_a_mebibyte_so_a_big_file_goes_alone() {
        let dir = DirNode::root(false);
        let mut b = Batcher::default();
        let ready = b.add(&dir, false, item("big", BATCH_BYTES));
        assert_eq!(ready.iter().map(names).collect::<Vec<_>>(), [["big"]]);
        assert!(b.add(&dir, false, item("a", BATCH_BYTES / 2)).is_empty());
        let ready = b.add(&dir, false, item("b", BATCH_BYTES / 2));
        assert_eq!(names(&ready[0]), ["a", "b"]);
    }

    #[test]
    fn another_folder_closes_the_open_batch_first() {
        let (a, b) = (DirNode::root(false), DirNode::root(false));
        let mut batcher = Batcher::default();
        assert!(batcher.add(&a, true, item("a1", 1)).is_empty());
        let ready = batcher.add(&b, false, item("b1", 1));
        assert_eq!(ready.len(), 1);
        assert!(Arc::ptr_eq(&ready[0].dir, &a) && ready[0].in_place);
        assert!(batcher.take_for(&a).is_none(), "a's batch is gone");
        let open = batcher.take_for(&b).expect("b's batch is open");
        assert!(!open.in_place);
        assert_eq!(names(&open), ["b1"]);
    }

    #[test]
    fn the_byte_count_starts_again_with_each_batch() {
        let dir = DirNode::root(false);
        let mut b = Batcher::default();
        b.add(&dir, false, item("x", BATCH_BYTES - 1));
        b.take();
        assert!(
            b.add(&dir, false, item("y", 1)).is_empty(),
            "a fresh batch is not full after one byte"
        );
    }
}
