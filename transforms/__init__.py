"""The methods as plain Python, each with a thin Beam wrapper, plus the services they share."""
