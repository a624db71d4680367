"""Storage mechanics every layer uses and none owns: the Iceberg catalog and its tables, the exactly-once append,
the DuckDB warehouse and its views over Iceberg, and table maintenance (compaction, snapshot expiry)."""
