"""What leaves the store: Hub publishing, dataset cards, HTML reports, training recipes."""
