//! Store: SQLite (embedded default) and PostgreSQL behind one interface.
