//! Small helpers with no knowledge of lbops' concepts, used across the
//! crate; a leaf of the module map.

pub mod backoff;
pub mod clock;
pub mod constant_time;
pub mod glob;
pub mod hex;
pub mod percent;
pub mod task;
