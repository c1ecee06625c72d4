"""Tools for developers: the one-machine simulator of many hosts and the demo built on it.
May import anything below the frontends."""
