"""The node agent: its records and ports, the worker and seed sessions the `Node` drives, the
LocalAPI server and `NodeClient`, the daemon loop and its files (state, lock, logs)."""
