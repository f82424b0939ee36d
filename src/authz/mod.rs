//! What changed between the trusted catalog and a candidate, and whether
//! a principal may make each change (pure).
