"""Forwarding a charger to a second central system (its upstream), seen from Home Assistant.

settings.py  an upstream subentry's data <-> the engine's `UpstreamSettings`, its queue file
flow.py      the upstream subentry flow (add, reconfigure) with a connection test
link.py      the subentries given to the engine; each link's status to entities and repairs
status.py    one link's status as Home Assistant shows it, written at most once a second
entities.py  "upstream connected" and "upstream queued messages" on the charger's device
issues.py    the repair when the upstream refuses our credentials; repair.py: its fix flow
"""
