"""Test harness: a real OpenID provider (idp.OidcProvider) and a throwaway PostgreSQL
(postgres.PostgresServer)."""
