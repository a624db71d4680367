"""The data service (数据服务): authenticated, scoped, masked and audited read access to the gold Iceberg tables for
downstream platforms. Depends on lakehouse, standards, transforms (gold scopes) and config; nothing depends on it."""
