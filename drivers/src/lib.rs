//! takt-drivers (built in later issues).
