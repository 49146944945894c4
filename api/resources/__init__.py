"""The API's resources: thin, validating at the boundary and delegating the rest."""
