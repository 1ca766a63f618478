"""The read side: read-only functions over the read models, returning msgspec Structs."""
