"""Sessions: their policy and standing, opened by a sign-in, ended, and pruned."""
