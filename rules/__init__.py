"""Policy rule engine (策略规则引擎): YAML policies checked against the standards and action catalogues, compiled to
durable-rules rulesets and run on events; every firing becomes an outbox record.

Modules: policy (file format), actions (action catalogue), fields and templates (shared checks), loader,
compiler, engine, outbox, testing (the scenario tests inside policy files). policies/ holds the shipped policies.
"""
