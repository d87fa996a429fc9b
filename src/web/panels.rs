//! Panels rendered to HTML fragments (being written).
