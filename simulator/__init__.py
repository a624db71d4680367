"""The city simulator: a realistic day of a city's safe-city data, in the bureau's own export formats, with the
faults those systems really produce and a ground-truth manifest of every fault."""
