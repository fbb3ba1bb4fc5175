//! The bundled ChatKit backend server.

fn main() {}
