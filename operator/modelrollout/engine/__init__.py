"""The pure rollout state machine: (spec, status, observations, now) -> (status, actions)."""
