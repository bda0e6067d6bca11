"""Humpback: the product's command line over the data engine (etl/, inference/, warehouse/, training/)."""
