//! Server: HTTP API, web console, live alerts, transparency page.
