//! Policy: roles, permissions, training gates, purposes. Pure decisions.
