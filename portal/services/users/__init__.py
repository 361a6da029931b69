"""People: the summary row, the admin search, one user's history, identity, SCIM provisioning."""
