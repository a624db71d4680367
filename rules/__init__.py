"""Policy rule engine (策略规则引擎): YAML policies checked against the standards and action catalogues, compiled to
durable-rules rulesets and run on events in a supervised worker process; every firing becomes an outbox record.

Modules: policy (file format: rules, statecharts, decision tables), shape (their rules in one normal form), tables
(CSV/XLSX decision tables), charts (statechart checks), actions (action catalogue), fields and templates (shared
checks), loader, compiler, engine, worker (supervised process), outbox, executor and sinks (delivery), events
(silver and JSON Lines sources: entity tables, derived events and facts), batch (batch mode's watermark, set-aside
versions, delivery backlog), lateness and arrivals (allowed lateness of late events, ops.late_events), replay (replay and diff), streaming (`rules route` re-keying per partition key and
`rules serve`), testing (the scenario tests inside policy files). policies/ holds the shipped packs: camera, command, emergency, network, security.
"""
