"""One instance on disk: its paths, settings, atomic state files, keystore and `Home`.
May import errors and tokens only; everything else builds on it."""
