"""Neural model families (torch) from the seed papers; see ``base`` for the contract they share."""
