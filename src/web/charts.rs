//! Server-side SVG charts drawn with plotters (being written).
