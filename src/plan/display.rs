//! A plan as people review it: one numbered line per step, naming the
//! resource as `kind/name` and saying what happens in plain words.

use super::Plan;
use std::fmt::{self, Write as _};

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("no changes");
        }
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_char('\n')?;
            }
            write!(f, "{}. {step}", i + 1)?;
        }
        Ok(())
    }
}
