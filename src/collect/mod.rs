//! Built-in host metrics (node_exporter names) and probes (being written).
