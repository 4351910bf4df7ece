//! Steering a run from outside and deciding conflicts: the handle a face holds
//! (`handle`: cancel, pause, workers), the bandwidth `limit`, the pure conflict
//! decision (`decide`), conflicts parked for an answer (`ask`) and what a mirror
//! holds back (`held`).

pub(crate) mod ask;
pub(crate) mod decide;
pub(crate) mod handle;
pub(crate) mod held;
pub(crate) mod limit;
