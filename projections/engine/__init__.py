"""The projection engine: follows the event log and keeps the read models (one module each in
`tillroll.projections`) and the reactions it is given, exactly once."""
