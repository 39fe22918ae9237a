"""The canary controller (issue 14): Flagger's Canary run by smimesh on its own metrics.

state.py     the status Flagger writes (phase, weights, conditions) + what the controller keeps
analysis.py  one canary's analysis step: gates, checks, weights, promotion, rollback (one owner)
checks.py    the built-in metrics (request-success-rate, request-duration) and the no-data policy
webhooks.py  Flagger's webhook calls and payload
target.py    the seams to a platform: `TargetRevisions` and `SplitWriter` (local: local_target.py)
local_target.py  local mode: `-primary` Workload clone, Services and TrafficSplit in the store
persist.py   statuses in the run directory's sqlite (restart-safe)
controller.py    the owner task: every canary, its timer, commands from the API
"""
