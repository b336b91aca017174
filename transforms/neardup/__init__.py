"""Near-duplicate removal within a dataset version: MinHash-LSH over normalised word n-grams."""
