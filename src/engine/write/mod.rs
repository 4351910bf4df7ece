//! The write side: the destination reached beneath its root (`dest`), names that
//! appear only complete (`temp_entry`, `temp_name`), what the destination refuses
//! or keeps (`caps`, `names`), leftovers of dead runs (`sweep`), partial big
//! files kept to resume (`resume`) and what is replaced kept aside (`backup`).

pub(crate) mod backup;
pub(crate) mod caps;
pub(crate) mod dest;
pub(crate) mod names;
pub(crate) mod resume;
pub(crate) mod sweep;
pub(crate) mod temp_entry;
pub(crate) mod temp_name;
