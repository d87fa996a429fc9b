//! The Prometheus text and OpenMetrics exposition parser (being written).
