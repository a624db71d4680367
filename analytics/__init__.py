"""Analysis steps over silver that are not dbt models: derivations whose logic is a state machine over event
streams (camera state and the camera health events the rule engine reads)."""
