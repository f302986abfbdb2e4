"""The scan pipeline: its configuration, the local and Ray engines, the finishing step the engines
and merge share, evidence logs, score files and shard merging."""
