//! The Port REST client. STUB.
