//! takt-stack (built in later issues).
