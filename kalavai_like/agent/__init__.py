"""The node agent, complete: the `Node` state machine, its worker and seed sessions, the
LocalAPI server, the daemon loop and its files. May import client, volunteer, usage, net,
container, home, rollback, units, errors and tokens; never the frontends or the platform."""
